-- pgTAP: the trust SQL functions of sql/004_trust.sql (issue 5).
-- Run by scripts/run-tests.sh in a fresh database made from the migrated
-- template; everything happens in one transaction rolled back at the end.
CREATE EXTENSION IF NOT EXISTS pgtap;
BEGIN;
SELECT plan(53);

SELECT has_function('chip_registrar_envio_sucesso', 'chip_registrar_envio_sucesso exists (called with the chip alone)');
SELECT has_function('chip_registrar_envio_erro', ARRAY['uuid', 'integer', 'text']);
SELECT has_function('chip_registrar_resposta', ARRAY['uuid', 'text', 'text', 'text', 'text']);
SELECT has_function('chip_calcular_taxa_delivery', ARRAY['uuid', 'integer']);
SELECT has_function('chip_verificar_conversa_bidirecional', ARRAY['uuid', 'text']);

INSERT INTO chips (id, telefone, instance_name, status, created_at) VALUES
    ('00000000-0000-0000-0000-000000000001', '5511900000001', 'c1', 'active', now() - interval '40 days'),
    ('00000000-0000-0000-0000-000000000002', '5511900000002', 'c2', 'active', now() - interval '40 days'),
    ('00000000-0000-0000-0000-000000000003', '5511900000003', 'c3', 'warming', now()),
    ('00000000-0000-0000-0000-000000000004', '5511900000004', 'c4', 'warming', now());

-- chip_registrar_envio_sucesso
SELECT lives_ok($$SELECT chip_registrar_envio_sucesso('00000000-0000-0000-0000-000000000001')$$,
                'envio_sucesso runs');
SELECT is((SELECT msgs_enviadas_total FROM chips WHERE instance_name = 'c1'), 1::bigint,
          'envio_sucesso counts one send');
SELECT isnt((SELECT ultimo_envio_em FROM chips WHERE instance_name = 'c1'), NULL,
            'envio_sucesso sets ultimo_envio_em');

-- chip_registrar_envio_erro
UPDATE chips SET dias_sem_erro = 9 WHERE instance_name = 'c1';
SELECT lives_ok($$SELECT chip_registrar_envio_erro('00000000-0000-0000-0000-000000000001', 500, 'boom')$$,
                'envio_erro runs');
SELECT is((SELECT erros_ultimas_24h FROM chips WHERE instance_name = 'c1'), 1,
          'envio_erro counts the error');
SELECT is((SELECT dias_sem_erro FROM chips WHERE instance_name = 'c1'), 0,
          'envio_erro resets dias_sem_erro');
SELECT is((SELECT kind || ' ' || http_status FROM chip_trust_events
           WHERE chip_id = '00000000-0000-0000-0000-000000000001'), 'send_error 500',
          'envio_erro records a send_error event for trust-update');
SELECT chip_registrar_envio_erro('00000000-0000-0000-0000-000000000001', 403, 'forbidden');
SELECT is((SELECT count(*) FROM chip_trust_events WHERE kind = 'forbidden'), 1::bigint,
          'a 403 is recorded as forbidden (a block signal)');
SELECT lives_ok($$SELECT chip_registrar_envio_erro('00000000-0000-0000-0000-0000000000ff', 500, 'x')$$,
                'envio_erro of an unknown chip does not fail');
SELECT is((SELECT count(*) FROM chip_trust_events), 2::bigint,
          '... and records nothing');

-- chip_calcular_taxa_delivery
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), NULL::numeric,
          'no data: NULL (neutral), not 0 or 1');
INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, provider_message_id, created_at)
SELECT '00000000-0000-0000-0000-000000000002', 'dr' || g, '5511988800' || lpad(g::text, 3, '0'),
       'out', 'P' || g, now() - interval '2 hours'
FROM generate_series(1, 10) g;
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 1.0000,
          'sends without receipts or failures: 1');
INSERT INTO send_attempts (message_id, chip_id, attempt, http_status, result, fault, created_at)
VALUES (1, '00000000-0000-0000-0000-000000000002', 1, 500, '5xx', 'chip', now() - interval '1 hour'),
       (2, '00000000-0000-0000-0000-000000000002', 1, 400, '4xx', 'chip', now() - interval '1 hour'),
       (3, '00000000-0000-0000-0000-000000000002', 1, NULL, 'timeout', 'provider', now() - interval '1 hour'),
       (5, '00000000-0000-0000-0000-000000000002', 1, NULL, 'network', 'provider', now() - interval '1 hour'),
       (6, '00000000-0000-0000-0000-000000000002', 1, 502, '5xx', 'provider', now() - interval '1 hour'),
       (4, '00000000-0000-0000-0000-000000000002', 1, 500, '5xx', 'chip', now() - interval '8 days');
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 0.8333,
          'the chip''s failed attempts in the window count against it (the provider''s, timeouts and older ones do not)');
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 30), 0.7692,
          'p_dias widens the window');
INSERT INTO message_receipts (provider_message_id, chip_id, last_status, delivered_at)
SELECT 'P' || g, '00000000-0000-0000-0000-000000000002', 'DELIVERY_ACK', now()
FROM generate_series(1, 5) g;
INSERT INTO message_receipts (provider_message_id, chip_id, last_status, server_ack_at, updated_at)
SELECT 'P' || g, '00000000-0000-0000-0000-000000000002', 'SERVER_ACK',
       now() - interval '2 hours', now() - interval '2 hours'
FROM generate_series(6, 10) g;
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 0.4167,
          'with receipts, a message acknowledged over 1 h ago and never delivered is undelivered');
SELECT is((SELECT taxa_delivery FROM chips WHERE instance_name = 'c2'), 0.4167,
          'the rate is stored in chips.taxa_delivery');
UPDATE message_receipts SET last_status = 'READ', read_at = now(), updated_at = now()
WHERE provider_message_id IN ('P6', 'P7', 'P8', 'P9', 'P10');
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 0.8333,
          'a read receipt counts as delivered');
INSERT INTO message_receipts (provider_message_id, chip_id, last_status, server_ack_at)
VALUES ('P11', '00000000-0000-0000-0000-000000000002', 'SERVER_ACK', now() - interval '10 minutes');
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 0.8333,
          'a message acknowledged 10 min ago and not yet delivered is pending: not counted');
INSERT INTO message_receipts (provider_message_id, chip_id, last_status, error_at)
VALUES ('P12', '00000000-0000-0000-0000-000000000002', 'ERROR', now());
SELECT is(chip_calcular_taxa_delivery('00000000-0000-0000-0000-000000000002', 7), 0.7692,
          'an ERROR receipt is undelivered');

-- chip_registrar_resposta
INSERT INTO chip_interactions (chip_id, cliente_id, telefone, direction, provider_message_id, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'dr1', '5511988800001', 'out', 'A1', now() - interval '1 hour'),
       ('00000000-0000-0000-0000-000000000001', 'dr3', '5511988800003', 'out', 'A3', now() - interval '3 days');
SELECT is(chip_registrar_resposta('00000000-0000-0000-0000-000000000001', '5511988800001@s.whatsapp.net'), true,
          'resposta to a message the chip sent: true (JID accepted)');
SELECT is((SELECT obteve_resposta FROM chip_interactions WHERE provider_message_id = 'A1'), true,
          'the message is marked obteve_resposta');
SELECT is((SELECT msgs_recebidas_total FROM chips WHERE instance_name = 'c1'), 1::bigint,
          'msgs_recebidas_total counts it');
SELECT is((SELECT cliente_id || ' ' || telefone FROM chip_interactions
           WHERE direction = 'in' AND chip_id = '00000000-0000-0000-0000-000000000001'),
          'dr1 5511988800001', 'an inbound interaction is kept, with the doctor');
SELECT is((SELECT respostas FROM medico_chip_affinity WHERE cliente_id = 'dr1'), 1,
          'the doctor''s affinity with the chip gets a response');
SELECT is(chip_registrar_resposta('00000000-0000-0000-0000-000000000001', '+55 11 97777-0000'), false,
          'a message from a number the chip never wrote: false');
SELECT is((SELECT msgs_recebidas_total FROM chips WHERE instance_name = 'c1'), 2::bigint,
          '... but still counted as received');
SELECT is((SELECT count(*) FROM medico_chip_affinity), 1::bigint,
          '... with no affinity (no doctor known)');
SELECT is(chip_registrar_resposta('00000000-0000-0000-0000-0000000000ff', '5511988800001'), false,
          'an unknown chip: false, nothing written');

-- chip_verificar_conversa_bidirecional
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'c1'), 1,
          'the response within 24 h made the conversation bidirectional');
SELECT chip_registrar_resposta('00000000-0000-0000-0000-000000000001', '5511988800001');
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'c1'), 1,
          'a second response from the same number counts once');
SELECT is(chip_verificar_conversa_bidirecional('00000000-0000-0000-0000-000000000001', '5511988800001'), true,
          'verificar: the pair is bidirectional');
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'c1'), 1,
          '... and verificar does not count it again');
SELECT is(chip_registrar_resposta('00000000-0000-0000-0000-000000000001', '5511988800003'), true,
          'a response to a message of 3 days ago is a response');
SELECT is(chip_verificar_conversa_bidirecional('00000000-0000-0000-0000-000000000001', '5511988800003'), false,
          '... but not a bidirectional conversation (more than 24 h apart)');
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'c1'), 1,
          '... and not counted');
INSERT INTO chip_interactions (chip_id, telefone, direction, created_at)
VALUES ('00000000-0000-0000-0000-000000000003', '5511966600001', 'in', now() - interval '2 hours');
SELECT is(chip_verificar_conversa_bidirecional('00000000-0000-0000-0000-000000000003', '5511966600001'), false,
          'only received, never sent: not bidirectional');
INSERT INTO chip_interactions (chip_id, telefone, direction, created_at)
VALUES ('00000000-0000-0000-0000-000000000003', '5511966600001', 'out', now());
SELECT is(chip_verificar_conversa_bidirecional('00000000-0000-0000-0000-000000000003', '5511966600001'), true,
          'the chip replying within 24 h makes it bidirectional');
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'c3'), 1,
          '... counted once');
SELECT is((SELECT count(*) FROM chip_conversas_bidirecionais), 2::bigint,
          'one row per chip and number');

-- chip_trust_recalcular: the stored breakdown adds up to the stored score
UPDATE chips SET status = 'banned' WHERE instance_name = 'c2';
SELECT is((SELECT count(*) FROM chip_trust_recalcular(NULL, '{}', NULL, 'pgtap')), 3::bigint,
          'recalcular covers every chip in warming/ready/active/degraded');
SELECT is((SELECT count(*) FROM chips
           WHERE trust_score = least(100, greatest(0, (trust_factors->>'base')::numeric
                 + (SELECT sum((f->>'points')::numeric)
                    FROM json_array_elements(trust_factors->'factors') f)))),
          3::bigint, 'base plus the eight factors gives each recomputed chip''s stored score');
SELECT is((SELECT count(*) FROM chip_trust_history WHERE motivo = 'pgtap'), 3::bigint,
          'a history row per chip');
SELECT is((SELECT trust_factors::text FROM chips WHERE instance_name = 'c2'), NULL,
          'a banned chip is not recomputed');
SELECT is((SELECT trust_score FROM chips WHERE instance_name = 'c4'), 50.00,
          'a new warming chip with no data sits at the base: neutral rates');
SELECT is((SELECT trust_level || pode_prospectar::text || pode_followup::text || pode_responder::text
           FROM chips WHERE instance_name = 'c4'), 'laranjafalsefalsetrue',
          '... laranja, reply only');
SELECT is((SELECT trust_score FROM chips WHERE instance_name = 'c3'), 52.17,
          'c3: one media type (+1.67) and one conversation of 20 (+0.50)');
SELECT is((SELECT count(*) FROM chip_trust_recalcular(ARRAY['00000000-0000-0000-0000-000000000003']::uuid[],
                  '{"phase_warming": 40}', NULL, 'one')), 1::bigint,
          'recalcular of one chip touches that chip');
SELECT is((SELECT trust_score || ' ' || trust_level FROM chips WHERE instance_name = 'c3'), '92.17 verde',
          '... with the weights passed in');

SELECT * FROM finish();
ROLLBACK;
