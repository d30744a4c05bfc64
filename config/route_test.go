package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSanitiseIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"orders", "orders"},
		{"orders.v1-EU", "orders_v1_eu"},
		{"Shop.Orders", "shop_orders"},
		{"2024-events", "t_2024_events"},
		{"_private", "_private"},
		{"a b/c", "a_b_c"},
		{"größe", "gr__e"},
		{"", ""},
		{strings.Repeat("x", 100), strings.Repeat("x", 63)},
		{"9" + strings.Repeat("x", 100), "t_9" + strings.Repeat("x", 60)},
	}
	for _, tt := range tests {
		if got := SanitiseIdent(tt.in); got != tt.want {
			t.Errorf("SanitiseIdent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTableName(t *testing.T) {
	tests := []struct {
		r             Route
		schema, table string
	}{
		{Route{Topic: "orders", Table: "public.orders"}, "public", "orders"},
		{Route{Topic: "orders", Table: "orders_v2"}, "", "orders_v2"},
		{Route{Topic: "orders", Table: "a.b.c"}, "a", "b.c"},
		{Route{Topic: "Orders.V1"}, "", "orders_v1"},
		{Route{Topics: []string{"x-y", "z"}}, "", "x_y"},
		{Route{}, "", ""},
	}
	for _, tt := range tests {
		s, tb := tt.r.TableName()
		if s != tt.schema || tb != tt.table {
			t.Errorf("%+v.TableName() = %q, %q; want %q, %q", tt.r, s, tb, tt.schema, tt.table)
		}
	}
}

func TestAllTopicsAndRoutesFor(t *testing.T) {
	c := &Config{Routes: []Route{
		{Topic: "a", Topics: []string{"b", "", "c"}},
		{Topics: []string{"d", "a"}},
	}}
	if got, want := c.Routes[0].AllTopics(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllTopics = %q, want %q", got, want)
	}
	for topic, want := range map[string][]*Route{"a": {&c.Routes[0], &c.Routes[1]}, "c": {&c.Routes[0]}, "d": {&c.Routes[1]}, "e": nil, "": nil} {
		if got := c.RoutesFor(topic); !reflect.DeepEqual(got, want) {
			t.Errorf("RoutesFor(%q) = %p, want %p", topic, got, want)
		}
	}
}

func TestRouteName(t *testing.T) {
	for _, tc := range []struct {
		r    Route
		want string
	}{
		{Route{Name: "n", Table: "t", Topic: "x"}, "n"},
		{Route{Table: "s.t", Topic: "x"}, "s.t"},
		{Route{TableExpr: "'a'", Topic: "x"}, "x"},
	} {
		if got := tc.r.RouteName(); got != tc.want {
			t.Errorf("%+v: RouteName = %q, want %q", tc.r, got, tc.want)
		}
	}
}
