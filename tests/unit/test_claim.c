/* Unit tests of common/claim.c's pacing: how big the next claim is, from
 * the batch just walked. */
#include "claim.h"
#include "ctx.h"
#include "tap.h"

#include <string.h>

static struct chipctl_ctx ctx;
static struct sender s;

static void reset(int batch_size, int batch_seconds)
{
	memset(&ctx, 0, sizeof(ctx));
	memset(&s, 0, sizeof(s));
	ctx.cfg.send_batch_size = batch_size;
	ctx.cfg.send_batch_seconds = batch_seconds;
	s.ctx = &ctx;
}

int main(void)
{
	reset(1000, 10);
	claim_pace(&s, 50, 0.05);	/* 1,000/s: 10,000 in 10 s */
	ok(s.pace == 800, "a fast first batch of 50: the next is sixteen times it, not 10,000 (%d)", s.pace);
	claim_pace(&s, 100, 0.1);
	ok(s.pace == 1000, "... then at most sixteen times again, never past send.batch_size (%d)", s.pace);
	claim_pace(&s, 1000, 1.0);
	ok(s.pace == 1000, "... and never past send.batch_size (%d)", s.pace);
	claim_pace(&s, 1000, 100);	/* 10/s: 100 in 10 s */
	ok(s.pace == 100, "the provider slowed down: at once what 10 s take at the new rate (%d)", s.pace);
	claim_pace(&s, 0, 25);
	ok(s.pace == 25, "a batch that gave everything back at its deadline: a quarter (%d)", s.pace);
	claim_pace(&s, 1, 60);
	ok(s.pace == 1, "a send a minute: batches of one, never zero (%d)", s.pace);
	claim_pace(&s, 0, 60);
	ok(s.pace == 1, "... never below one (%d)", s.pace);
	claim_pace(&s, 1, 0);
	ok(s.pace == 16, "no measurable time: bounded by sixteen times the one before (%d)", s.pace);
	s.pace = 1;
	claim_pace(&s, 3, 0);
	ok(s.pace == 48, "... or than the batch carried, topped up past its claim (%d)", s.pace);

	reset(1000, 2);
	claim_pace(&s, 50, 25);		/* 2/s: 4 in 2 s */
	ok(s.pace == 4, "a slow first batch at 2 s a batch: 4 (%d)", s.pace);

	reset(7, 10);
	claim_pace(&s, 7, 0.01);
	ok(s.pace == 7, "send.batch_size below the first claim's 50 caps from the start (%d)", s.pace);

	reset(5000, 10);
	claim_first(&s, 200);
	ok(s.pace == 200, "200 chips may send now: the first claim is one message each (%d)", s.pace);
	claim_first(&s, 3);
	ok(s.pace == 50, "three chips: still 50, the first claim before chips counted (%d)", s.pace);
	reset(100, 10);
	claim_first(&s, 200);
	ok(s.pace == 100, "never past send.batch_size (%d)", s.pace);

	reset(5000, 10);
	claim_pace(&s, 1000, 0.1);	/* a claim of 50 topped up in flight to 1,000 */
	ok(s.pace == 5000, "a batch topped up to 1,000: sixteen times what it carried, here send.batch_size (%d)", s.pace);

	reset(5000, 10);
	s.pace = 4000;
	claim_share(&s, 5, 15);
	ok(s.claim_cap == 1000, "5 of 20 chips free, 15 busy: a quarter of the pace (%ld)", s.claim_cap);
	claim_share(&s, 20, 0);
	ok(s.claim_cap == 0, "none busy: the whole pace (%ld)", s.claim_cap);
	s.pace = 2;
	claim_share(&s, 3, 30);
	ok(s.claim_cap == 3, "never below one message per free chip (%ld)", s.claim_cap);
	return done_testing();
}
