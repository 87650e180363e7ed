package ctapi

import (
	"strconv"
	"time"

	"github.com/opentrail/opentrail"
)

// Timestamp is a time on the awsJson1_1 wire: a JSON number of seconds since
// the Unix epoch, with millisecond precision. It holds a time.Time; build one
// with NewTimestamp or Timestamp{Time: t}.
type Timestamp struct {
	time.Time
}

// NewTimestamp returns a *Timestamp holding t, ready for a response field.
func NewTimestamp(t time.Time) *Timestamp {
	return &Timestamp{Time: t}
}

// Equal reports whether t and u are the same instant, whatever their
// locations. It lets go-cmp compare structs that hold timestamps.
func (t Timestamp) Equal(u Timestamp) bool {
	return t.Time.Equal(u.Time)
}

// MarshalJSON writes t as epoch seconds, rounded down to the millisecond: an
// integer when whole ("1424476529"), else three decimals ("1424476529.123").
// It never writes a string or an exponent; every SDK reads this form.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return appendEpoch(make([]byte, 0, 24), t.Time), nil
}

func appendEpoch(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return b
}

// UnmarshalJSON reads a JSON number of epoch seconds in any form JSON allows
// (1424476529, 1424476529.123, 1.424476529123e9), keeping millisecond
// precision (finer digits are dropped, rounding toward the past). JSON null
// leaves t unchanged. A string, or a time before year 1 or after year 9999,
// is a SerializationException.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if n := scanNumber(b, 0); n != len(b) {
		return opentrail.Errorf(opentrail.CodeSerialization, "Expected a timestamp (epoch seconds as a JSON number), got %s", jsonTypeName(b))
	}
	tm, ok := parseEpoch(b)
	if !ok {
		return opentrail.Errorf(opentrail.CodeSerialization, "Timestamp %s is out of range", b)
	}
	t.Time = tm
	return nil
}

// Epoch seconds of the first and last second a Timestamp may hold:
// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const (
	minEpoch = -62135596800
	maxEpoch = 253402300799
)

// parseEpoch converts a JSON number (already checked against the grammar)
// of epoch seconds to a UTC time truncated to the millisecond. It works on
// the decimal digits, so 1424476529.123 is exactly 123 ms past the second,
// which a float64 could not promise.
func parseEpoch(num []byte) (time.Time, bool) {
	i := 0
	neg := num[0] == '-'
	if neg {
		i++
	}
	// digits holds the significant digits; the value is digits * 10^exp.
	var digits []byte
	var buf [32]byte
	digits = buf[:0]
	for ; i < len(num) && isDigit(num[i]); i++ {
		digits = append(digits, num[i])
	}
	exp := 0
	if i < len(num) && num[i] == '.' {
		for i++; i < len(num) && isDigit(num[i]); i++ {
			digits = append(digits, num[i])
			exp--
		}
	}
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		expNeg := false
		if num[i] == '+' || num[i] == '-' {
			expNeg = num[i] == '-'
			i++
		}
		e := 0
		for ; i < len(num); i++ {
			if e < 1e6 { // larger exponents saturate: far out of range or below 1 ms
				e = e*10 + int(num[i]-'0')
			}
		}
		if expNeg {
			e = -e
		}
		exp += e
	}
	// Drop leading zeros; a zero value is the epoch.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return time.Unix(0, 0).UTC(), true
	}
	intLen := len(digits) + exp // digits before the decimal point
	if intLen > 12 {
		return time.Time{}, false // at least 10^12 seconds: after year 9999
	}
	var sec, ms int64
	for k := range max(intLen, 0) {
		d := int64(0)
		if k < len(digits) {
			d = int64(digits[k] - '0')
		}
		sec = sec*10 + d
	}
	for k := range 3 { // the first three fractional digits
		pos := intLen + k
		d := int64(0)
		if pos >= 0 && pos < len(digits) {
			d = int64(digits[pos] - '0')
		}
		ms = ms*10 + d
	}
	if neg {
		// Round toward the past like the marshaller: -1.0005 is -1.001.
		exact := true
		for pos := max(intLen+3, 0); pos < len(digits); pos++ {
			if digits[pos] != '0' {
				exact = false
				break
			}
		}
		if !exact {
			ms++
		}
		sec, ms = -sec, -ms
	}
	if sec < minEpoch-1 || sec > maxEpoch {
		return time.Time{}, false
	}
	tm := time.Unix(sec, ms*int64(time.Millisecond)).UTC()
	if s := tm.Unix(); s < minEpoch || s > maxEpoch {
		return time.Time{}, false
	}
	return tm, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
