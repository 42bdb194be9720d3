package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// How Go values are stored. Times are INTEGER microseconds since the Unix epoch, UTC: exact to the microsecond
// (finer parts are cut off on the way in, so that what a write returns is what later reads return) and
// ordered as numbers. Log indices and sizes are uint64 in Go and INTEGER (int64) in SQLite; one beyond the
// range of int64 is an error where it would be stored, and matches nothing where it is looked for. Lists of
// strings are JSON arrays.

// micros is t as stored.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros is a stored time, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// truncMicro is t as a read returns it after it was stored: in UTC, to the microsecond.
func truncMicro(t time.Time) time.Time { return fromMicros(micros(t)) }

// now is the current time as stored.
func now() time.Time { return truncMicro(time.Now()) }

// orNow is t as stored, or the current time if t is zero: the store's default for creation times.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return truncMicro(t)
}

// nullMicros is an optional time as stored: NULL for nil.
func nullMicros(t *time.Time) sql.Null[int64] {
	if t == nil {
		return sql.Null[int64]{}
	}
	return sql.Null[int64]{V: micros(*t), Valid: true}
}

// fromNullMicros is an optional stored time.
func fromNullMicros(v sql.Null[int64]) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.V)
	return &t
}

// dbInt converts a log index or size (what names it) to an INTEGER, or says that the database cannot hold it.
func dbInt(what string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%s %d is beyond the largest the database holds (%d)", what, v, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// fromNullIndex is an optional stored log index (never negative: the schema checks it).
func fromNullIndex(v sql.Null[int64]) *uint64 {
	if !v.Valid {
		return nil
	}
	u := uint64(v.V)
	return &u
}

// jsonList encodes a list of strings for a JSON array column. JSON cannot carry invalid UTF-8 unchanged, so
// such a string is refused rather than stored altered.
func jsonList(what string, list []string) (string, error) {
	for _, s := range list {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%s %q is not valid UTF-8", what, s)
		}
	}
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", what, err)
	}
	return string(b), nil
}

// fromJSONList decodes a JSON array column; an empty array is nil, so that "none" reads back the same way
// from every backend.
func fromJSONList(what, s string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return emptyNil(list), nil
}

// emptyNil returns nil for an empty slice.
func emptyNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// boolInt is b as stored: 1 or 0.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
