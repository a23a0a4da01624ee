-- The console's pictures: the overview chart bins sagas by when they started and finished,
-- and provider error rates by when each call was made, over a window of up to 7 days; the
-- partner order list reads newest first. Each query is a range scan on one of these.
CREATE INDEX sagas_finished ON sagas (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX fulfillment_logs_created ON fulfillment_logs (created_at);
CREATE INDEX outbox_deliveries_created ON outbox_deliveries (created_at);
CREATE INDEX partner_orders_created ON partner_orders (created_at DESC, id DESC);
