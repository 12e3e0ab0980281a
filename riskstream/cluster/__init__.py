"""Scale-out on a NATS JetStream cluster: ingest and risk workers, partitions by borrower."""
