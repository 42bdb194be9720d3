package dump

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// MaxRecordBytes bounds one line of an export when it is read back: an envelope or layout of 64 MiB, base64
// encoded, fits with room to spare.
const MaxRecordBytes = 128 << 20

// encode is the one encoding of a record, shared by the file and the digests: JSON without HTML escaping,
// on one line (JSON strings carry newlines escaped), ending in a newline.
func encode(r Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encode %s record: %w", r.Kind, err)
	}
	return buf.Bytes(), nil
}

// Tally counts the records of each kind and digests them (SHA-256 of their encodings, in order), so that two
// exports can be compared without keeping either: the same tally means the same rows in the same order.
// The zero Tally is empty and ready to use.
type Tally struct {
	kinds map[string]*kindTally
}

type kindTally struct {
	n int64
	h hash.Hash
}

// Count is the number of records of one kind in a Tally, and their digest (lowercase hex).
type Count struct {
	Records int64  `json:"records"`
	SHA256  string `json:"sha256"`
}

// Add counts r.
func (t *Tally) Add(r Record) error {
	line, err := encode(r)
	if err != nil {
		return err
	}
	t.addLine(r.Kind, line)
	return nil
}

func (t *Tally) addLine(kind string, line []byte) {
	if t.kinds == nil {
		t.kinds = map[string]*kindTally{}
	}
	k := t.kinds[kind]
	if k == nil {
		k = &kindTally{h: sha256.New()}
		t.kinds[kind] = k
	}
	k.n++
	k.h.Write(line)
}

// Counts returns the count and digest of every kind (kinds without records included, with the digest of
// nothing).
func (t *Tally) Counts() map[string]Count {
	out := make(map[string]Count, len(Kinds))
	for _, kind := range Kinds {
		c := Count{SHA256: hex.EncodeToString(sha256.New().Sum(nil))}
		if k := t.kinds[kind]; k != nil {
			c = Count{Records: k.n, SHA256: hex.EncodeToString(k.h.Sum(nil))}
		}
		out[kind] = c
	}
	return out
}

// Diff lists, one per kind that differs, how want and got differ ("attestations: 120 records, want 121"),
// in export order; nothing when they are equal.
func Diff(got, want map[string]Count) []string {
	var out []string
	for _, kind := range Kinds {
		g, w := got[kind], want[kind]
		switch {
		case g.Records != w.Records:
			out = append(out, fmt.Sprintf("%s: %d records, want %d", kind, g.Records, w.Records))
		case g.SHA256 != w.SHA256:
			out = append(out, fmt.Sprintf("%s: %d records as wanted, but their contents differ", kind, g.Records))
		}
	}
	return out
}

// Writer writes an export, one record per line, and tallies what it wrote.
type Writer struct {
	w     *bufio.Writer
	tally Tally
	bytes int64
	sum   hash.Hash
}

// NewWriter returns a Writer to w. Call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 1<<20), sum: sha256.New()}
}

// Write writes r.
func (w *Writer) Write(r Record) error {
	if err := r.check(); err != nil {
		return err
	}
	line, err := encode(r)
	if err != nil {
		return err
	}
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("write %s record: %w", r.Kind, err)
	}
	w.sum.Write(line)
	w.bytes += int64(len(line))
	w.tally.addLine(r.Kind, line)
	return nil
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// Tally returns the tally of what was written.
func (w *Writer) Tally() *Tally { return &w.tally }

// Size returns the bytes written and their SHA-256 (lowercase hex).
func (w *Writer) Size() (int64, string) { return w.bytes, hex.EncodeToString(w.sum.Sum(nil)) }

// Read calls yield with every record of the export in r, in order. A line longer than MaxRecordBytes, a line
// that is not a record, a field of the wrong kind, or input that ends without a newline is an error.
func Read(r io.Reader, yield func(Record) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("export line %d: %w", n, err)
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("export line %d: %w", n, err)
		}
		if dec.More() {
			return fmt.Errorf("export line %d: more than one record", n)
		}
		if err := rec.check(); err != nil {
			return fmt.Errorf("export line %d: %w", n, err)
		}
		if err := yield(rec); err != nil {
			return err
		}
	}
}

// readLine returns the next line without its newline, at most MaxRecordBytes long.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxRecordBytes {
			return nil, fmt.Errorf("record longer than %d bytes", MaxRecordBytes)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, fmt.Errorf("truncated: %q… does not end with a newline", strings.ToValidUTF8(string(line[:min(len(line), 40)]), "?"))
		default:
			return line, err
		}
	}
}
