package coerce

// NumericTypmod returns the precision and scale of a numeric(p,s) column;
// ok is false for an unconstrained numeric or any other kind.
func (t *Type) NumericTypmod() (precision, scale int, ok bool) {
	if t.Kind != KindNumeric || !t.hasScale {
		return 0, 0, false
	}
	return int(t.precision), int(t.scale), true
}
