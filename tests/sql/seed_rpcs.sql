-- pgTAP: the seed's RPCs accept the seed's calls (issue 11, item 4), with
-- named arguments exactly as PostgREST passes them (E08: supabase.rpc(
-- "chip_registrar_envio_sucesso", {"p_chip_id": chip_id})), one definition
-- each, and the positional calls of chipctl's own send path still work.
CREATE EXTENSION IF NOT EXISTS pgtap;
BEGIN;
SELECT plan(24);

SELECT is((SELECT count(*) FROM pg_proc WHERE proname = f), 1::bigint, f || ': one definition')
FROM unnest(ARRAY['chip_registrar_envio_sucesso', 'chip_registrar_envio_erro',
                  'chip_registrar_resposta', 'chip_calcular_taxa_delivery',
                  'chip_verificar_conversa_bidirecional']) f;

INSERT INTO chips (id, telefone, instance_name, status) VALUES
    ('00000000-0000-0000-0000-0000000000a1', '5511900000101', 'rpc1', 'warming');

-- T08.1: {"p_chip_id": chip_id} after a send
SELECT lives_ok($$SELECT chip_registrar_envio_sucesso(p_chip_id => '00000000-0000-0000-0000-0000000000a1')$$,
                'chip_registrar_envio_sucesso(p_chip_id => ...)');
SELECT is((SELECT msgs_enviadas_total FROM chips WHERE instance_name = 'rpc1'), 1::bigint,
          '... counts one send');
SELECT is((SELECT count(*) FROM chip_interactions
           WHERE chip_id = '00000000-0000-0000-0000-0000000000a1' AND direction = 'out'),
          1::bigint, '... and records one outbound interaction (recipient unknown yet)');
SELECT lives_ok($$SELECT chip_registrar_envio_sucesso(p_chip_id => '00000000-0000-0000-0000-0000000000a1',
                     p_telefone => '+55 11 98888-0101', p_provider_message_id => 'PM1')$$,
                'with the optional recipient and message id');
SELECT is((SELECT telefone || ' ' || provider_message_id FROM chip_interactions
           WHERE provider_message_id = 'PM1'), '5511988880101 PM1', '... kept on the interaction');

-- chipctl's send path records its interactions itself, with the message,
-- and then calls the function positionally in the same transaction: no
-- second interaction.
INSERT INTO chip_interactions (chip_id, telefone, direction, message_id, provider_message_id)
VALUES ('00000000-0000-0000-0000-0000000000a1', '5511988880102', 'out', 42, 'PM2'),
       ('00000000-0000-0000-0000-0000000000a1', '5511988880103', 'out', 43, 'PM3');
SELECT lives_ok($$SELECT chip_registrar_envio_sucesso('00000000-0000-0000-0000-0000000000a1', 2)$$,
                'the send path''s positional call (chip, count)');
SELECT is((SELECT count(*) FROM chip_interactions
           WHERE chip_id = '00000000-0000-0000-0000-0000000000a1' AND direction = 'out'),
          4::bigint, '... adds no interaction the send path already recorded');
SELECT is((SELECT msgs_enviadas_total FROM chips WHERE instance_name = 'rpc1'), 4::bigint,
          '... but counts its sends');

-- T08.1: {"p_chip_id": chip_id} after a failure
SELECT lives_ok($$SELECT chip_registrar_envio_erro(p_chip_id => '00000000-0000-0000-0000-0000000000a1')$$,
                'chip_registrar_envio_erro(p_chip_id => ...)');
SELECT is((SELECT erros_ultimas_24h FROM chips WHERE instance_name = 'rpc1'), 1,
          '... counts the error');
SELECT is((SELECT kind FROM chip_trust_events WHERE chip_id = '00000000-0000-0000-0000-0000000000a1'),
          'send_error', '... as a send_error event for trust-update');
SELECT lives_ok($$SELECT chip_registrar_envio_erro('00000000-0000-0000-0000-0000000000a1', 403, 'forbidden')$$,
                'the send path''s positional call (chip, status, text)');
SELECT is((SELECT count(*) FROM chip_trust_events WHERE kind = 'forbidden'), 1::bigint,
          '... a 403 is a block signal');

-- T08.2: {"p_chip_id": ..., "p_telefone": ...} on an inbound message
SELECT is(chip_registrar_resposta(p_chip_id => '00000000-0000-0000-0000-0000000000a1',
                                  p_telefone => '5511988880102@s.whatsapp.net'), true,
          'chip_registrar_resposta(p_chip_id => ..., p_telefone => ...) answers a sent message');
SELECT is((SELECT msgs_recebidas_total FROM chips WHERE instance_name = 'rpc1'), 1::bigint,
          '... counts the message received');
SELECT is((SELECT conversas_bidirecionais FROM chips WHERE instance_name = 'rpc1'), 1,
          '... and the bidirectional conversation');
SELECT is(chip_registrar_resposta(p_chip_id => '00000000-0000-0000-0000-0000000000a1',
                                  p_telefone_remetente => '5511988880103'), true,
          'the seed''s T08.2 name p_telefone_remetente works too');
SELECT is(chip_registrar_resposta('00000000-0000-0000-0000-0000000000a1', '5511988880199'), false,
          'positional (chip, phone): a message that answers nothing');
SELECT is((SELECT msgs_recebidas_total FROM chips WHERE instance_name = 'rpc1'), 3::bigint,
          '... still counted as received');

SELECT * FROM finish();
ROLLBACK;
