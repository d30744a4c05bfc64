package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bufbuild/protocompile"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// protobufRecords registers order.proto as "<topic>-value" and encodes each
// order as a shop.v1.Order message, compiled at run time from the same file
// (no generated code), framed as Confluent's serializer frames it.
func protobufRecords(p *producer) ([]*kgo.Record, expectation, error) {
	orders, want := sampleOrders(p.count)
	text, err := p.file("order.proto")
	if err != nil {
		return nil, want, err
	}
	id, err := p.register(p.topic+"-value", registry.TypeProtobuf, text)
	if err != nil {
		return nil, want, err
	}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"order.proto": text}),
	})}
	files, err := c.Compile(context.Background(), "order.proto")
	if err != nil {
		return nil, want, err
	}
	md, ok := files[0].FindDescriptorByName("shop.v1.Order").(protoreflect.MessageDescriptor)
	if !ok {
		return nil, want, fmt.Errorf("order.proto has no message shop.v1.Order")
	}
	recs := make([]*kgo.Record, len(orders))
	for i, o := range orders {
		// Filled from protojson: wrappers are plain values there, and a
		// field left out is unset (NULL in the table).
		fields := map[string]any{
			"order_id":   strconv.FormatInt(o.ID, 10),
			"customer":   o.Customer,
			"amount":     o.amountText(),
			"currency":   o.Currency,
			"status":     o.Status,
			"created_at": o.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00"),
		}
		if d := o.dateText(); d != nil {
			fields["delivery_date"] = *d
		}
		if o.Note != nil {
			fields["note"] = *o.Note
		}
		js, err := json.Marshal(fields)
		if err != nil {
			return nil, want, err
		}
		m := dynamicpb.NewMessage(md)
		if err := (protojson.UnmarshalOptions{}).Unmarshal(js, m); err != nil {
			return nil, want, fmt.Errorf("order %d: %w", o.ID, err)
		}
		raw, err := proto.Marshal(m)
		if err != nil {
			return nil, want, err
		}
		// The message-index list of the file's first message is the single
		// byte 0x00.
		v := append(codec.AppendWire(nil, id), 0)
		recs[i] = &kgo.Record{Key: []byte(strconv.FormatInt(o.ID, 10)), Value: append(v, raw...)}
	}
	return recs, want, nil
}
