DROP TRIGGER IF EXISTS webhooks_webhookevent_append_only ON webhooks_webhookevent;
DROP TRIGGER IF EXISTS webhooks_deliveryattempt_append_only ON webhooks_deliveryattempt;
DROP TRIGGER IF EXISTS webhooks_webhookevent_no_truncate ON webhooks_webhookevent;
DROP TRIGGER IF EXISTS webhooks_deliveryattempt_no_truncate ON webhooks_deliveryattempt;
DROP FUNCTION IF EXISTS webhooks_refuse_change();
