-- Usage records and dead letters are append-only, like the journal they explain
-- (ledger_refuse_change() comes from ledger's 0002 migration).
CREATE TRIGGER metering_usagerecord_append_only BEFORE UPDATE OR DELETE ON metering_usagerecord
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER metering_usagerecord_no_truncate BEFORE TRUNCATE ON metering_usagerecord
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER metering_deadletter_append_only BEFORE UPDATE OR DELETE ON metering_deadletter
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER metering_deadletter_no_truncate BEFORE TRUNCATE ON metering_deadletter
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
