package table

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// AppendKey appends an encoding of one key column value to buf. Two values
// of the same column encode equally exactly when they are the same value, so
// the concatenation over the key columns identifies a row inside a batch.
// The order of encoded keys is only used to give every writer the same lock
// order; it need not match PostgreSQL's collation.
func AppendKey(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, 0)
	case int16:
		return binary.BigEndian.AppendUint64(append(buf, 1), uint64(int64(x))^(1<<63))
	case int32:
		return binary.BigEndian.AppendUint64(append(buf, 1), uint64(int64(x))^(1<<63))
	case int64:
		return binary.BigEndian.AppendUint64(append(buf, 1), uint64(x)^(1<<63))
	case string:
		return appendBytes(append(buf, 2), []byte(x))
	case []byte:
		return appendBytes(append(buf, 3), x)
	case [16]byte:
		return append(append(buf, 4), x[:]...)
	case pgtype.UUID:
		return append(append(buf, 4), x.Bytes[:]...)
	case time.Time:
		buf = append(buf, 5)
		buf = binary.BigEndian.AppendUint64(buf, uint64(x.Unix())^(1<<63))
		return binary.BigEndian.AppendUint32(buf, uint32(x.Nanosecond()))
	case bool:
		if x {
			return append(buf, 6, 1)
		}
		return append(buf, 6, 0)
	case float32:
		return binary.BigEndian.AppendUint64(append(buf, 7), math.Float64bits(float64(x)))
	case float64:
		return binary.BigEndian.AppendUint64(append(buf, 7), math.Float64bits(x))
	case pgtype.Numeric:
		// Normalised text: 1.50 and 1.5 are the same key in PostgreSQL.
		return appendBytes(append(buf, 8), []byte(normalNumeric(x)))
	case coerce.Decimal:
		// The same encoding as the pgtype.Numeric of the value.
		return appendBytes(append(buf, 8), []byte(normalNumeric(x.Numeric())))
	default:
		return appendBytes(append(buf, 9), fmt.Appendf(nil, "%v", x))
	}
}

// appendBytes length-prefixes b so that concatenated keys cannot collide.
func appendBytes(buf, b []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
	return append(buf, b...)
}

func normalNumeric(n pgtype.Numeric) string {
	if !n.Valid {
		return ""
	}
	if n.NaN {
		return "NaN"
	}
	if n.InfinityModifier != pgtype.Finite {
		return fmt.Sprint(n.InfinityModifier)
	}
	if n.Int == nil || n.Int.Sign() == 0 {
		return "0"
	}
	s := n.Int.String()
	exp := n.Exp
	// Strip trailing zeros into the exponent.
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
		exp++
	}
	return fmt.Sprintf("%se%d", s, exp)
}
