package coerce

import (
	"testing"

	"github.com/valyala/fastjson"
)

// numberText reads a number's raw text in place on the fastjson version in
// go.mod; whichever way it reads, the text is MarshalTo's.
func TestNumberText(t *testing.T) {
	if !rawNumbers {
		t.Error("fastjson.Value's layout changed: numbers are copied out (update fastjsonValue)")
	}
	var p fastjson.Parser
	v, err := p.Parse(`[0, -0, 12, -9223372036854775808, 1.5e-7, 00012, 1E+2, 123456789012345678901234567890]`)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v.GetArray() {
		s, bp := numberText(n)
		if want := string(n.MarshalTo(nil)); s != want {
			t.Errorf("numberText = %q, MarshalTo %q", s, want)
		}
		putScratch(bp)
	}
}
