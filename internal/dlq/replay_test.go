package dlq

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

func TestParseReplayBound(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want ReplayBound
		err  string
	}{
		{"", ReplayBound{}, ""},
		{"0", ReplayBound{Set: true}, ""},
		{"1234", ReplayBound{Set: true, N: 1234}, ""},
		{"2024-05-01T12:00:00Z", ReplayBound{Set: true, IsTime: true, Time: ts}, ""},
		{"-1", ReplayBound{}, "must not be negative"},
		{"yesterday", ReplayBound{}, "want an integer"},
	} {
		got, err := ParseReplayBound("--from", tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--from") {
				t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// Headers stored in the dead-letter table come back as they were, without
// kafka2pg's own.
func TestHeadersFromJSONRoundTrip(t *testing.T) {
	in := []kgo.RecordHeader{
		{Key: "seq", Value: []byte("42")},
		{Key: "bin", Value: []byte{0xff, 0x00, 0x80}},
		{Key: "nil"},
		{Key: "seq", Value: []byte("again")},
		{Key: "kafka2pg.error.message", Value: []byte("old reason")},
	}
	got, err := headersFromJSON(transform.HeadersJSON(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := in[:4]; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	if hs, err := headersFromJSON([]byte("[]")); err != nil || len(hs) != 0 {
		t.Fatalf("empty headers: %v %v", hs, err)
	}
}

// A dead letter of the topic is rebuilt as its source record, with
// kafka2pg's headers left out; producing it again gives fresh headers only.
func TestRecordFromTopicDeadRoundTrip(t *testing.T) {
	src := &kgo.Record{Topic: "orders", Partition: 3, Offset: 1234, Key: []byte("k"), Value: []byte(`{"a":1}`),
		Timestamp: time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC),
		Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte("1")}}}
	dead := topicRecords("dead", []Letter{{Rec: src, Stage: transform.StageMap, Class: "record", Reason: "first"}})[0]
	dead.Timestamp = time.Now() // the dead-letter topic may use LogAppendTime
	got, ok := sourceRecord(dead)
	if !ok {
		t.Fatal("source topic not found")
	}
	if got.Topic != src.Topic || got.Partition != src.Partition || got.Offset != src.Offset ||
		string(got.Key) != "k" || string(got.Value) != `{"a":1}` || !got.Timestamp.Equal(src.Timestamp) ||
		!reflect.DeepEqual(got.Headers, src.Headers) {
		t.Fatalf("rebuilt %+v, want %+v", got, src)
	}
	again := topicRecords("dead", []Letter{{Rec: got, Stage: transform.StageWrite, Class: "data", Reason: "second"}})[0]
	n := 0
	for _, h := range again.Headers {
		if h.Key == hdrMessage {
			n++
			if string(h.Value) != "second" {
				t.Errorf("message header %q", h.Value)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d message headers on the re-dead-lettered record, want 1: %v", n, again.Headers)
	}
	if _, ok := sourceRecord(&kgo.Record{Value: []byte("x")}); ok {
		t.Fatal("a record without kafka2pg headers has no source topic")
	}
}

func TestReplayUsage(t *testing.T) {
	cfg := &config.Config{}
	cfg.Errors.Tolerance = config.ToleranceNone
	_, err := Replay(context.Background(), cfg, ReplayOptions{})
	var ue *ReplayUsageError
	if !errors.As(err, &ue) {
		t.Fatalf("tolerance none: %v, want a usage error", err)
	}
	cfg.Errors.Tolerance = config.ToleranceAll
	cfg.Errors.DLQ.Table = "dead"
	_, err = Replay(context.Background(), cfg, ReplayOptions{From: ReplayBound{Set: true, N: 10}, To: ReplayBound{Set: true, N: 9}})
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "after") {
		t.Fatalf("--from after --to: %v, want a usage error", err)
	}
}

func TestReplaySummary(t *testing.T) {
	r := ReplayResult{DLQ: "dead-letter table dead", Replayed: 7, FailedAgain: 2, NoRoute: 1}
	want := "replayed 7 record(s) from dead-letter table dead; 2 failed again and are back in the dead-letter queue; 1 had no route"
	if got := r.Summary(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	r.DryRun = true
	if got := r.Summary(); !strings.HasPrefix(got, "dry run: would replay 7 record(s)") || !strings.Contains(got, "nothing was written") {
		t.Fatalf("dry run summary %q", got)
	}
}
