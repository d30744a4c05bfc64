// Package connectconf converts the configuration of a Kafka Connect JDBC
// sink connector (Confluent's io.confluent.connect.jdbc.JdbcSinkConnector or
// Debezium's io.debezium.connector.jdbc.JdbcSinkConnector) into a kafka2pg
// pipeline configuration. It backs `kafka2pg import-connect`; it is pure: no
// file system, no network.
//
// # Flow
//
// Parse reads the input (Connect's REST API JSON, a flat JSON object or a
// .properties file) into a Connector: a name and flat string settings.
// Convert maps the settings and returns a Result: the YAML, the environment
// variables its placeholders need, notes, and every setting it could not
// carry over with the reason. Input that is not a JDBC sink writing to
// PostgreSQL is an *InputError.
//
// # Files
//
//   - input.go, properties.go: reading the input forms.
//   - convert.go: Convert, the kafka and postgres sections, and the final
//     classification of settings the mapping did not read (keys.go holds the
//     known settings of Connect and of both connectors).
//   - jdbcurl.go: pgJDBC URLs and connection properties → libpq URL parameters.
//   - converters.go: key/value converters → formats and the schema registry.
//   - transforms.go: ExtractNewRecordState, RegexRouter, InsertField, Flatten.
//   - routes.go: modes, keys, deletes, table names, batches, errors, consumer
//     overrides.
//   - yaml.go: rendering, quoting and ${VAR} escaping.
//
// # Secrets
//
// Passwords never reach the output: the YAML refers to environment
// variables (${POSTGRES_PASSWORD}, ${KAFKA_PASSWORD},
// ${SCHEMA_REGISTRY_PASSWORD}), and a secret setting that is reported shows
// as [hidden]. docs/migrating-from-connect.md lists every option and what it
// becomes; docs_test.go keeps that list in step with keys.go.
package connectconf
