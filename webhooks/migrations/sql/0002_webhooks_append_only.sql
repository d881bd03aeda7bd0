-- Webhook events and delivery attempts are history: an event's body is what every attempt
-- sends, and an attempt is what happened. UPDATE, DELETE and TRUNCATE are refused (error
-- code WH001); TRUNCATE only when the session sets ledger.allow_truncate=on (the test
-- settings do, so that test runs can flush).
CREATE FUNCTION webhooks_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('ledger.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'webhooks: % on % is refused: it is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'WH001';
END;
$$;

CREATE TRIGGER webhooks_webhookevent_append_only BEFORE UPDATE OR DELETE ON webhooks_webhookevent
    FOR EACH ROW EXECUTE FUNCTION webhooks_refuse_change();
CREATE TRIGGER webhooks_deliveryattempt_append_only
    BEFORE UPDATE OR DELETE ON webhooks_deliveryattempt
    FOR EACH ROW EXECUTE FUNCTION webhooks_refuse_change();
CREATE TRIGGER webhooks_webhookevent_no_truncate BEFORE TRUNCATE ON webhooks_webhookevent
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_refuse_change();
CREATE TRIGGER webhooks_deliveryattempt_no_truncate BEFORE TRUNCATE ON webhooks_deliveryattempt
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_refuse_change();
