// Package kafka2pg streams Kafka topics into PostgreSQL tables.
//
// Most users run the kafka2pg binary (cmd/kafka2pg) with a YAML pipeline
// file; this package is the same engine for programs that embed it.
//
// # Running a pipeline
//
//	cfg, err := config.Load("pipeline.yaml")
//	if err != nil { … }               // a *config.ValidationError lists every problem
//	p, err := kafka2pg.New(ctx, cfg)  // connects, reads the tables, checks the routes
//	if err != nil { … }
//	err = p.Run(ctx)                  // until ctx is cancelled: then drain, commit, leave
//
// Cancelling the context passed to Run is a soft stop: fetching stops, every
// partition's pending batch is written, offsets are committed and the group
// is left, within the config's shutdown_timeout. Abort stops at once without
// committing anything that is not durable.
//
// # Guarantees
//
// A partition's offset is committed to Kafka only after the PostgreSQL
// transaction holding every record below it has committed (at-least-once).
// Records of one partition are applied in offset order; inside a batch the
// last change to a key wins. A record that cannot become a row stops the
// pipeline with a *RecordError naming topic, partition, offset, field and
// column. See docs/delivery.md for the whole contract.
package kafka2pg
