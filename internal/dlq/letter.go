// Package dlq is the dead-letter queue (errors.tolerance: all): a record
// that cannot become rows goes to a Kafka topic (produced and acknowledged
// before the batch's transaction) or to a PostgreSQL table (inserted in the
// batch's transaction), with its topic, partition, offset, key, value,
// headers and the reason; Replay feeds dead letters back through their
// routes once the cause is fixed.
package dlq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Letter is a record that could not become rows, with why. Its offset is
// committed only once the letter is durable.
type Letter struct {
	Rec    *kgo.Record
	Stage  transform.Stage // decode, map, write
	Class  string          // "record" (decode, map) or the SQLSTATE class name ("data")
	Reason string
}

// FromError is the letter of a record error.
func FromError(r *kgo.Record, err error) Letter {
	l := Letter{Rec: r, Class: "record", Reason: err.Error()}
	var re *transform.RecordError
	if errors.As(err, &re) {
		l.Stage = re.Stage
	}
	return l
}

// Rejected is the letter of a record whose rows the database rejected.
func Rejected(r *kgo.Record, werr *pgwrite.WriteError) Letter {
	return Letter{Rec: r, Stage: transform.StageWrite, Class: "data", Reason: werr.Reason()}
}

// Dead-letter topic headers, added to the record's own.
const (
	hdrClass     = "kafka2pg.error.class"
	hdrMessage   = "kafka2pg.error.message"
	hdrStage     = "kafka2pg.error.stage"
	hdrTopic     = "kafka2pg.source.topic"
	hdrPartition = "kafka2pg.source.partition"
	hdrOffset    = "kafka2pg.source.offset"
	hdrTimestamp = "kafka2pg.source.timestamp"
)

// topicRecords are the records of letters for the dead-letter topic: the
// original key, value and headers plus kafka2pg.* headers saying what failed
// where.
func topicRecords(topic string, letters []Letter) []*kgo.Record {
	out := make([]*kgo.Record, 0, len(letters))
	for _, dl := range letters {
		r := dl.Rec
		hs := append([]kgo.RecordHeader(nil), r.Headers...)
		hs = append(hs,
			kgo.RecordHeader{Key: hdrClass, Value: []byte(dl.Class)},
			kgo.RecordHeader{Key: hdrMessage, Value: []byte(dl.Reason)},
			kgo.RecordHeader{Key: hdrStage, Value: []byte(dl.Stage)},
			kgo.RecordHeader{Key: hdrTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: hdrPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: hdrOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: hdrTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
		)
		out = append(out, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp})
	}
	return out
}

// sourceRecord rebuilds the record a dead letter of the topic came from: its
// source coordinates and timestamp come from kafka2pg's headers, which are
// left out. ok is false when the source topic is unknown.
func sourceRecord(d *kgo.Record) (*kgo.Record, bool) {
	r := &kgo.Record{Key: d.Key, Value: d.Value, Timestamp: d.Timestamp, Partition: -1, Offset: -1}
	for _, h := range d.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrTopic:
			r.Topic = v
		case hdrPartition:
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				r.Partition = int32(n)
			}
		case hdrOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				r.Offset = n
			}
		case hdrTimestamp:
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
				r.Timestamp = ts
			}
		}
		if !isOwnHeader(h.Key) {
			r.Headers = append(r.Headers, h)
		}
	}
	return r, r.Topic != ""
}

// headersFromJSON reverses transform.HeadersJSON (the dead-letter table's
// headers column), leaving out kafka2pg's own headers.
func headersFromJSON(b []byte) ([]kgo.RecordHeader, error) {
	var hs []struct {
		Key    string  `json:"key"`
		Value  *string `json:"value"`
		Base64 *string `json:"value_base64"`
	}
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, err
	}
	var out []kgo.RecordHeader
	for _, h := range hs {
		if isOwnHeader(h.Key) {
			continue
		}
		rh := kgo.RecordHeader{Key: h.Key}
		switch {
		case h.Base64 != nil:
			v, err := base64.StdEncoding.DecodeString(*h.Base64)
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", h.Key, err)
			}
			rh.Value = v
		case h.Value != nil:
			rh.Value = []byte(*h.Value)
		}
		out = append(out, rh)
	}
	return out, nil
}

func isOwnHeader(key string) bool { return strings.HasPrefix(key, "kafka2pg.") }
