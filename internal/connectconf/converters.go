package connectconf

import (
	"strings"
)

const (
	jsonConverter       = "org.apache.kafka.connect.json.JsonConverter"
	stringConverter     = "org.apache.kafka.connect.storage.StringConverter"
	byteArrayConverter  = "org.apache.kafka.connect.converters.ByteArrayConverter"
	avroConverter       = "io.confluent.connect.avro.AvroConverter"
	protobufConverter   = "io.confluent.connect.protobuf.ProtobufConverter"
	jsonSchemaConverter = "io.confluent.connect.json.JsonSchemaConverter"
)

// registryFormats maps Confluent's Schema Registry converters to kafka2pg
// formats (the Confluent wire format in both).
var registryFormats = map[string]string{
	avroConverter:       "avro",
	protobufConverter:   "protobuf",
	jsonSchemaConverter: "json-schema",
}

// registryHarmless are Schema Registry converter settings that only matter
// when serializing (registering schemas, choosing subjects) or for caching:
// deserializing reads the schema by the id in each record.
var registryHarmless = []string{
	"auto.register.schemas", "use.latest.version", "latest.compatibility.strict",
	"key.subject.name.strategy", "value.subject.name.strategy", "schemas.cache.config",
	"max.schemas.per.subject", "normalize.schemas", "use.schema.id", "id.compatibility.strict",
	"schema.registry.request.header.", "context.name.strategy",
}

// converter returns the kafka2pg format for one side ("key" or "value") of
// the records, from <side>.converter and its settings. used says whether
// kafka2pg reads that side at all; a key nobody reads gets format string
// (ignored), and its converter is not checked.
func (cv *conv) converter(side string, used bool) (format, comment string) {
	key := side + ".converter"
	class, set := cv.get(key)
	class = strings.TrimSpace(class)
	subs := cv.keysWithPrefix(key + ".")
	for _, k := range subs {
		cv.used[k] = true
	}
	opt := func(name string) (string, bool) {
		v, ok := cv.c.Config[key+"."+name]
		return strings.TrimSpace(v), ok
	}
	if !used {
		return "string", "not used: no key columns in insert mode without deletes"
	}
	if !set || class == "" {
		class = jsonConverter
		cv.note("no %s: the Connect worker's %s applies, which the connector configuration does not show; assumed %s with schemas.enable=true (the default in Connect's sample worker configurations): check the worker's configuration", key, key, jsonConverter)
	}
	handledSubs := map[string]bool{}
	mark := func(names ...string) {
		for _, n := range names {
			handledSubs[key+"."+n] = true
		}
	}
	mark("converter.type") // set by Connect itself
	switch {
	case class == jsonConverter:
		mark("schemas.enable", "schemas.cache.size", "decimal.format", "replace.null.with.default")
		schemas := true
		if v, ok := opt("schemas.enable"); ok {
			switch strings.ToLower(v) {
			case "false":
				schemas = false
			case "true", "":
			default:
				cv.drop(key+".schemas.enable", "want true or false")
			}
		}
		if v, ok := opt("decimal.format"); ok && !strings.EqualFold(v, "BASE64") {
			cv.drop(key+".decimal.format", "kafka2pg reads Connect decimals in their base64 form (decimal.format=BASE64, the default) only")
		}
		if v, ok := opt("replace.null.with.default"); ok && strings.EqualFold(v, "true") {
			cv.drop(key+".replace.null.with.default", "kafka2pg writes a null field as NULL; it does not replace it with the Connect schema's default")
		}
		if schemas {
			format, comment = "json-connect", key+" JsonConverter, schemas.enable=true"
		} else {
			format, comment = "json", key+" JsonConverter, schemas.enable=false"
		}
	case class == stringConverter:
		mark("encoding", "converter.encoding")
		for _, n := range []string{"encoding", "converter.encoding"} {
			if v, ok := opt(n); ok && !strings.EqualFold(strings.ReplaceAll(v, "-", ""), "UTF8") {
				cv.drop(key+"."+n, "kafka2pg reads strings as UTF-8")
			}
		}
		format, comment = "string", key+" StringConverter"
	case class == byteArrayConverter:
		format, comment = "bytes", key+" ByteArrayConverter"
	case registryFormats[class] != "":
		format, comment = registryFormats[class], key+" "+class[strings.LastIndex(class, ".")+1:]
		mark("schema.registry.url", "basic.auth.credentials.source", "basic.auth.user.info", "schema.registry.basic.auth.user.info")
		for _, n := range registryHarmless {
			if strings.HasSuffix(n, ".") {
				for _, k := range subs {
					if strings.HasPrefix(k, key+"."+n) {
						handledSubs[k] = true
					}
				}
				continue
			}
			mark(n)
		}
		cv.registry(side)
	default:
		reason := "not a converter kafka2pg reads (JsonConverter, StringConverter, ByteArrayConverter and Confluent's AvroConverter, ProtobufConverter and JsonSchemaConverter)"
		if strings.HasPrefix(class, "org.apache.kafka.connect.converters.") {
			reason = "a binary number or boolean converter; kafka2pg reads keys as strings, bytes or structured formats"
		}
		if strings.Contains(class, "apicurio") {
			reason = "Apicurio's converters use their own wire format; kafka2pg reads Confluent's"
		}
		cv.drop(key, reason)
		for _, k := range subs {
			cv.drop(k, "a setting of "+key+", which is not carried over")
		}
		if side == "key" {
			return "string", key + " (not carried over)"
		}
		return "json", key + " (not carried over)"
	}
	for _, k := range subs {
		if !handledSubs[k] {
			cv.drop(k, "a "+class[strings.LastIndex(class, ".")+1:]+" setting kafka2pg does not read")
		}
	}
	return format, comment
}

// registry fills schema_registry from <side>.converter.schema.registry.url
// and its basic-auth settings. kafka2pg has one registry for keys and
// values.
func (cv *conv) registry(side string) {
	key := side + ".converter"
	raw, ok := cv.c.Config[key+".schema.registry.url"]
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		cv.drop(key+".schema.registry.url", "required by the converter; set schema_registry.url")
		if cv.p.registry == nil {
			cv.p.registry = &registryConf{url: cv.addEnv("SCHEMA_REGISTRY_URL", "the Schema Registry's URL (the connector configuration does not name it)"), note: "not in the connector configuration"}
		}
		return
	}
	urls := strings.Split(raw, ",")
	first := strings.TrimSpace(urls[0])
	if len(urls) > 1 {
		cv.note("%s.schema.registry.url lists %d registries; kafka2pg uses the first, %s, without failing over", key, len(urls), shown("", first))
	}
	user, password, hasUser := "", false, false
	source := strings.ToUpper(strings.TrimSpace(cv.c.Config[key+".basic.auth.credentials.source"]))
	info, hasInfo := cv.c.Config[key+".basic.auth.user.info"]
	if !hasInfo {
		info, hasInfo = cv.c.Config[key+".schema.registry.basic.auth.user.info"]
	}
	switch source {
	case "", "USER_INFO":
		if hasInfo && strings.TrimSpace(info) != "" {
			u, _, _ := strings.Cut(info, ":")
			user, password, hasUser = u, strings.Contains(info, ":"), true
			if providerRef.MatchString(u) {
				cv.drop(key+".basic.auth.user.info", "a config provider reference; set schema_registry.username and password yourself")
				user, password, hasUser = "", false, false
			}
		}
	case "URL":
		if pu := parseURLUser(first); pu != "" {
			user, password, hasUser = pu, true, true
		}
	default:
		cv.drop(key+".basic.auth.credentials.source", "kafka2pg authenticates to the registry with HTTP basic auth (USER_INFO or URL) only")
	}
	clean := stripURLUser(first)
	if r := cv.p.registry; r != nil {
		if r.url != lit(clean) {
			cv.drop(key+".schema.registry.url", "kafka2pg reads keys and values through one Schema Registry; the other side's URL differs")
		}
		return
	}
	r := &registryConf{url: lit(clean), note: key + ".schema.registry.url"}
	if hasUser {
		r.username = lit(user)
		if password {
			r.password = cv.addEnv("SCHEMA_REGISTRY_PASSWORD", "the Schema Registry basic-auth password of user \""+user+"\" ("+key+".basic.auth.user.info; import-connect never prints it)")
		}
		r.note += ", basic auth"
	}
	cv.p.registry = r
}

// parseURLUser returns the user name in a URL's user info, "" when none.
func parseURLUser(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return ""
	}
	hostPart, _, _ := strings.Cut(rest, "/")
	info, _, ok := strings.Cut(hostPart, "@")
	if !ok {
		return ""
	}
	u, _, _ := strings.Cut(info, ":")
	return u
}

// stripURLUser removes the user info (and with it any password) from a URL.
func stripURLUser(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	hostPart, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndex(hostPart, "@"); i >= 0 {
		hostPart = hostPart[i+1:]
	}
	if hasPath {
		return scheme + "://" + hostPart + "/" + path
	}
	return scheme + "://" + hostPart
}
