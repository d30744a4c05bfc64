package table

import (
	"math/bits"
	"unsafe"
)

// Bitset marks which columns of a table a row carries.
type Bitset []uint64

// NewBitset returns a bitset for n columns.
func NewBitset(n int) Bitset { return make(Bitset, (n+63)/64) }

// Add marks column i.
func (b Bitset) Add(i int) { b[i/64] |= 1 << (uint(i) % 64) }

// Has reports whether column i is marked.
func (b Bitset) Has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }

// Equal reports whether both mark the same columns.
func (b Bitset) Equal(o Bitset) bool {
	if len(b) != len(o) {
		return false
	}
	for i := range b {
		if b[i] != o[i] {
			return false
		}
	}
	return true
}

// Indexes lists the marked columns in ascending order.
func (b Bitset) Indexes() []int {
	var out []int
	for w, word := range b {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			out = append(out, w*64+t)
			word &= word - 1
		}
	}
	return out
}

// Key is a map key for grouping; it copies the words.
func (b Bitset) Key() string {
	if len(b) == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b)*8))
}
