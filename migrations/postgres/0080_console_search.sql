-- The console's one search box looks sagas up by what operators have at hand: the shown tail
-- of a saga id, a partner's orderId and a customer's phone number in whatever form it was
-- typed. Order codes, invoice and tracking numbers are unique columns and indexed already.
CREATE INDEX sagas_id_tail ON sagas (right(id::text, 8));
CREATE INDEX partner_orders_order_id ON partner_orders (order_id);
CREATE INDEX partner_orders_phone ON partner_orders (ops_phone(customer_phone));
CREATE INDEX orders_phone ON orders (phone_number);
