package connectconf

import (
	"net/url"
	"strings"
)

// jdbcURL is a PostgreSQL JDBC URL (pgJDBC's syntax):
//
//	jdbc:postgresql:DATABASE
//	jdbc:postgresql://HOST[:PORT][,HOST[:PORT]...]/[DATABASE][?NAME=VALUE&...]
//
// Parameter values are percent-decoded, as pgJDBC does.
type jdbcURL struct {
	hosts    []string // host or host:port, IPv6 in brackets; never empty
	database string   // "" means the driver's default (the user name)
	params   [][2]string
}

// parseJDBCURL parses s; it reports whether s is a JDBC URL at all and, for
// a PostgreSQL one, what is wrong with it (never quoting the URL, which may
// hold a password).
func parseJDBCURL(s string) (*jdbcURL, error) {
	const prefix = "jdbc:postgresql:"
	if !strings.HasPrefix(s, prefix) {
		if rest, ok := strings.CutPrefix(s, "jdbc:"); ok {
			sub, _, _ := strings.Cut(rest, ":")
			return nil, inputErr("connection.url", "a jdbc:%s URL: kafka2pg writes to PostgreSQL only (jdbc:postgresql://...)", sub)
		}
		return nil, inputErr("connection.url", "not a JDBC URL; want jdbc:postgresql://HOST:PORT/DATABASE")
	}
	rest := s[len(prefix):]
	rest, query, _ := strings.Cut(rest, "?")
	u := &jdbcURL{}
	if hostPart, ok := strings.CutPrefix(rest, "//"); ok {
		hostPart, db, _ := strings.Cut(hostPart, "/")
		for _, h := range strings.Split(hostPart, ",") {
			if h == "" {
				return nil, inputErr("connection.url", "empty host in the host list")
			}
			u.hosts = append(u.hosts, h)
		}
		u.database = db
	} else {
		u.hosts = []string{"localhost"}
		u.database = strings.TrimPrefix(rest, "/")
	}
	if db, err := url.PathUnescape(u.database); err == nil {
		u.database = db
	} else {
		return nil, inputErr("connection.url", "the database name has a bad %%-escape")
	}
	if query != "" {
		for _, p := range strings.Split(query, "&") {
			if p == "" {
				continue
			}
			k, v, _ := strings.Cut(p, "=")
			dv, err := url.QueryUnescape(v)
			if err != nil {
				return nil, inputErr("connection.url", "parameter %s has a bad %%-escape", k)
			}
			u.params = append(u.params, [2]string{k, dv})
		}
	}
	return u, nil
}

// jdbcParam says what one pgJDBC connection property becomes: a libpq/pgx
// URL parameter (the value possibly rewritten), nothing because it has no
// effect on what kafka2pg writes (driver tuning), or nothing because it
// cannot be carried over (reason).
type jdbcParam struct {
	name   string // pgx parameter; "" when there is none
	value  string
	ignore bool   // no effect on the rows written: drop silently
	reason string // not carried over, and why
}

// pgxSSLModes are the sslmode values pgx accepts (libpq's).
var pgxSSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// jdbcTuning are pgJDBC properties that tune the driver (statement
// preparation, batching, fetching, logging, type binding): kafka2pg does
// its own statement handling (COPY and one INSERT ... SELECT per batch), so
// they have nothing to carry.
var jdbcTuning = []string{
	"prepareThreshold", "preparedStatementCacheQueries", "preparedStatementCacheSizeMiB",
	"reWriteBatchedInserts", "binaryTransfer", "binaryTransferEnable", "binaryTransferDisable",
	"defaultRowFetchSize", "stringtype", "loggerLevel", "loggerFile", "logUnclosedConnections",
	"assumeMinServerVersion", "databaseMetadataCacheFields", "databaseMetadataCacheFieldsMiB",
	"disableColumnSanitiser", "logServerErrorDetail", "quoteReturningIdentifiers",
	"receiveBufferSize", "sendBufferSize", "maxResultBuffer", "adaptiveFetch",
	"adaptiveFetchMinimum", "adaptiveFetchMaximum", "cleanupSavepoints", "autosave",
	"escapeSyntaxCallMode", "hideUnprivilegedObjects", "groupStartupParameters",
	"readOnlyMode", "replication", "xmlFactoryFactory", "protocolVersion",
}

// mapJDBCParam maps one pgJDBC property (from the URL or a connection.*
// setting). user and password are handled by the caller.
func mapJDBCParam(name, value string) jdbcParam {
	for _, t := range jdbcTuning {
		if strings.EqualFold(name, t) {
			return jdbcParam{ignore: true}
		}
	}
	switch name {
	case "sslmode":
		if contains(pgxSSLModes, value) {
			return jdbcParam{name: "sslmode", value: value}
		}
		return jdbcParam{reason: "want one of " + strings.Join(pgxSSLModes, ", ")}
	case "ssl":
		// pgJDBC: ssl=true without sslmode means verify-full; the caller
		// lets an explicit sslmode win.
		if strings.EqualFold(value, "true") || value == "" {
			return jdbcParam{name: "sslmode", value: "verify-full"}
		}
		return jdbcParam{name: "sslmode", value: "disable"}
	case "sslfactory":
		if value == "org.postgresql.ssl.NonValidatingFactory" {
			return jdbcParam{name: "sslmode", value: "require"}
		}
		if value == "org.postgresql.ssl.LibPQFactory" || value == "org.postgresql.ssl.DefaultJavaSSLFactory" {
			return jdbcParam{ignore: true}
		}
		return jdbcParam{reason: "a Java SSL socket factory; set sslmode and sslrootcert in postgres.url instead"}
	case "sslrootcert", "sslcert":
		return jdbcParam{name: name, value: value}
	case "sslkey":
		return jdbcParam{name: name, value: value} // the caller notes the key format
	case "sslpassword":
		return jdbcParam{reason: "the passphrase of the client key is a secret and is not printed; add sslpassword=${...} to postgres.url yourself, or decrypt the key"}
	case "sslNegotiation":
		return jdbcParam{name: "sslnegotiation", value: value}
	case "channelBinding":
		return jdbcParam{name: "channel_binding", value: value}
	case "ApplicationName", "applicationName":
		return jdbcParam{name: "application_name", value: value}
	case "currentSchema":
		// pgx sends parameters it does not know as run-time parameters.
		return jdbcParam{name: "search_path", value: value}
	case "options":
		return jdbcParam{name: "options", value: value}
	case "connectTimeout", "loginTimeout":
		if value == "0" {
			return jdbcParam{ignore: true}
		}
		return jdbcParam{name: "connect_timeout", value: value}
	case "targetServerType":
		switch value {
		case "any":
			return jdbcParam{name: "target_session_attrs", value: "any"}
		case "primary", "master":
			return jdbcParam{name: "target_session_attrs", value: "primary"}
		case "secondary", "slave":
			return jdbcParam{name: "target_session_attrs", value: "standby"}
		case "preferSecondary", "preferSlave":
			return jdbcParam{name: "target_session_attrs", value: "prefer-standby"}
		}
		return jdbcParam{reason: "no libpq target_session_attrs equivalent; use any, primary, standby or prefer-standby"}
	case "tcpKeepAlive":
		if strings.EqualFold(value, "true") {
			return jdbcParam{ignore: true} // kafka2pg's connections use TCP keep-alive
		}
		return jdbcParam{reason: "kafka2pg's connections always use TCP keep-alive"}
	case "readOnly":
		if strings.EqualFold(value, "false") {
			return jdbcParam{ignore: true}
		}
		return jdbcParam{reason: "a sink writes; a read-only connection cannot"}
	case "socketTimeout", "cancelSignalTimeout":
		return jdbcParam{reason: "kafka2pg bounds its statements itself and has no socket read timeout setting"}
	}
	return jdbcParam{reason: "pgJDBC connection property without a kafka2pg (libpq) equivalent"}
}
