package main

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"time"
)

// order is one sample order, independent of the format that encodes it.
type order struct {
	ID           int64
	Customer     string
	Amount       *big.Rat // exact, two decimal places
	Currency     string
	Status       string     // NEW, PAID, SHIPPED, CANCELLED
	CreatedAt    time.Time  // UTC, whole milliseconds
	DeliveryDate *time.Time // a day (midnight UTC); nil until shipped
	Note         *string
}

var (
	statuses   = []string{"NEW", "PAID", "SHIPPED", "CANCELLED"}
	customers  = []string{"ada@example.com", "grace@example.com", "linus@example.com", "zoë@example.com", "renée@example.com"}
	currencies = []string{"EUR", "EUR", "EUR", "USD", "CHF"}
	baseTime   = time.Date(2026, 3, 1, 9, 30, 0, 123_000_000, time.UTC)
)

// sampleOrder returns order id, the same for the same id in every format.
// The first three hold the values worth looking at in the table: the
// smallest amount, the largest one numeric(12,2) takes, a negative one
// (a credit note), a non-ASCII note, a timestamp before 2000 with
// milliseconds, and NULLs.
func sampleOrder(id int64) order {
	rng := rand.New(rand.NewPCG(uint64(id), 0x6b61666b61327067))
	o := order{
		ID:        id,
		Customer:  customers[rng.IntN(len(customers))],
		Amount:    big.NewRat(rng.Int64N(50_000_00)+1, 100),
		Currency:  currencies[rng.IntN(len(currencies))],
		Status:    statuses[rng.IntN(len(statuses))],
		CreatedAt: baseTime.Add(time.Duration(id) * 37 * time.Minute),
	}
	switch id {
	case 1:
		o.Amount, o.Status, o.Note = rat("0.01"), "NEW", nil
	case 2:
		o.Amount, o.Status, o.Note = rat("9999999999.99"), "SHIPPED", ptr("Leave at the door — merci, café ☕")
	case 3:
		o.Amount, o.Status = rat("-15.50"), "CANCELLED"
		o.CreatedAt = time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
		o.Note = ptr("credit note for order 2")
	default:
		if rng.IntN(4) == 0 {
			o.Note = ptr("gift wrap #" + strconv.Itoa(rng.IntN(100)))
		}
	}
	if o.Status == "SHIPPED" {
		d := o.CreatedAt.Truncate(24*time.Hour).AddDate(0, 0, 2)
		o.DeliveryDate = &d
	}
	return o
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// amountText is the exact amount with its two decimal places.
func (o *order) amountText() string { return o.Amount.FloatString(2) }

// unscaled is the amount times 100, the integer Avro and Connect decimals
// carry.
func (o *order) unscaled() *big.Int {
	r := new(big.Rat).Mul(o.Amount, big.NewRat(100, 1))
	if !r.IsInt() {
		panic(fmt.Sprintf("order %d: amount %s has more than 2 decimal places", o.ID, o.amountText()))
	}
	return r.Num()
}

// dateText is the delivery date as YYYY-MM-DD, or nil.
func (o *order) dateText() *string {
	if o.DeliveryDate == nil {
		return nil
	}
	return ptr(o.DeliveryDate.Format(time.DateOnly))
}

// epochDays is the delivery date as days since 1970-01-01, or nil.
func (o *order) epochDays() *int32 {
	if o.DeliveryDate == nil {
		return nil
	}
	return ptr(int32(o.DeliveryDate.Unix() / 86400))
}

// sampleOrders returns orders 1..n and what an upsert table holds after them.
func sampleOrders(n int) ([]order, expectation) {
	orders := make([]order, n)
	want := make(expectation, n)
	for i := range orders {
		orders[i] = sampleOrder(int64(i + 1))
		want[orders[i].ID] = orders[i]
	}
	return orders, want
}

// twosComplement is x as the big-endian two's-complement bytes Avro and
// Kafka Connect decimals use, in the fewest bytes.
func twosComplement(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -x-1 has every bit inverted compared with x's two's complement.
	m := new(big.Int).Neg(x)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}
