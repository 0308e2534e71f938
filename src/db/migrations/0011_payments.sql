-- Payments through an app's Stripe integration (src/payments/). One row per
-- Checkout Session Parley created for a buy action: written 'open' when the
-- pay page sends the user to Stripe (with the action as it was), turned
-- 'paid' once by the first verified webhook that says so, whatever Stripe
-- retries or duplicates; `raised_at` says the payment event was raised, so a
-- crash between recording and raising is made good by Stripe's retry, and
-- `raising_until` is the lease of the one delivery raising it right now.
CREATE TABLE payments (
  session_id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  integration_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  action_ref TEXT NOT NULL,
  action TEXT NOT NULL,
  amount INTEGER NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  payment_intent TEXT,
  event_id TEXT,
  created_at TEXT NOT NULL,
  paid_at TEXT,
  raised_at TEXT,
  raising_until INTEGER
);
CREATE INDEX payments_by_action ON payments(app_id, message_id, action_ref, user_id);

-- Stripe event ids seen per integration, with a digest of the body each came
-- with: a redelivery of the same event is taken, the same id with another
-- body is refused.
CREATE TABLE stripe_events (
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  received_at TEXT NOT NULL,
  PRIMARY KEY (integration_id, event_id)
) WITHOUT ROWID;

-- An app has at most one Stripe integration; concurrent creates cannot pass this.
CREATE UNIQUE INDEX one_stripe_integration_per_app ON integrations(app_id) WHERE type = 'stripe';
