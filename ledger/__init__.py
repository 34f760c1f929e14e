"""The ClickHouse decision ledger. Not built yet: see issue 3."""
