package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestd/attestd/attestor"
)

// loadPredicateType is the predicate type of the statements the tool submits: not a link, so that they
// belong to no step and any attestor token may submit them.
const loadPredicateType = "https://attestd.dev/load/v1"

// rsaBits is the size of the RSA keys of --key rsa: attestd's minimum, the most common size.
const rsaBits = 2048

// newSigner generates a key of kind (one of keyKinds) and returns its signer. ed25519 and ecdsa-p256 keys
// come from attestor.GenerateKey; attestor signs RSA keys with RSASSA-PSS (rsassa-pss-sha256).
func newSigner(kind string) (*attestor.Signer, error) {
	var priv []byte
	var err error
	switch kind {
	case "ed25519":
		priv, _, err = attestor.GenerateKey(attestor.KeyEd25519)
	case "ecdsa-p256":
		priv, _, err = attestor.GenerateKey(attestor.KeyECDSAP256)
	case "rsa":
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, rsaBits); err == nil {
			var der []byte
			if der, err = x509.MarshalPKCS8PrivateKey(k); err == nil {
				priv = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
			}
		}
	default:
		return nil, fmt.Errorf("unknown key type %q", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", kind, err)
	}
	return attestor.LoadSigner(priv)
}

// maker makes the distinct envelopes of one run: in-toto Statements v1 of the load predicate, each naming its
// index and the run's nonce, padded so that the signed DSSE envelope is exactly size bytes.
type maker struct {
	signer   *attestor.Signer
	size     int
	subjects int
	nonce    string
	overhead int // envelope bytes besides the base64 of the payload, for this key type
}

func newMaker(ctx context.Context, s *attestor.Signer, size, subjects int) (*maker, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	m := &maker{signer: s, size: size, subjects: subjects, nonce: hex.EncodeToString(b[:])}
	probe := m.statement(0, 0)
	env, err := s.Sign(ctx, attestor.PayloadType, probe)
	if err != nil {
		return nil, err
	}
	m.overhead = len(env) - base64Len(len(probe))
	if minSize := len(env); minSize > size {
		return nil, fmt.Errorf("an envelope of %d subject(s) signed with this key takes at least %d bytes; --envelope-bytes is %d",
			subjects, minSize, size)
	}
	return m, nil
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

// subjectName and subjectDigest name the j-th subject of the i-th statement of the run.
func (m *maker) subjectName(i int64, j int) string {
	return "load/" + m.nonce + "/" + strconv.FormatInt(i, 10) + "/" + strconv.Itoa(j)
}

func (m *maker) subjectDigest(i int64, j int) string {
	sum := sha256.Sum256([]byte(m.subjectName(i, j)))
	return hex.EncodeToString(sum[:])
}

// statement is the i-th statement with pad bytes of padding in its predicate.
func (m *maker) statement(i int64, pad int) []byte {
	b := make([]byte, 0, 256+m.subjects*(len(m.nonce)+110)+pad)
	b = append(b, `{"_type":"https://in-toto.io/Statement/v1","subject":[`...)
	for j := range m.subjects {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, m.subjectName(i, j)...)
		b = append(b, `","digest":{"sha256":"`...)
		b = append(b, m.subjectDigest(i, j)...)
		b = append(b, `"}}`...)
	}
	b = append(b, `],"predicateType":"`+loadPredicateType+`","predicate":{"run":"`...)
	b = append(b, m.nonce...)
	b = append(b, `","n":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `,"pad":"`...)
	for range pad {
		b = append(b, 'x')
	}
	return append(b, `"}}`...)
}

// envelope signs the i-th statement and returns its envelope of exactly m.size bytes. The payload is padded
// to the largest size whose base64 fits; the last 0 to 3 bytes are JSON whitespace after the envelope's
// opening brace. An ECDSA signature's length varies by a few bytes, so a second try may be needed.
func (m *maker) envelope(ctx context.Context, i int64) ([]byte, error) {
	base := len(m.statement(i, 0))
	pad := (m.size-m.overhead)/4*3 - base
	for range 8 {
		if pad < 0 {
			break
		}
		env, err := m.signer.Sign(ctx, attestor.PayloadType, m.statement(i, pad))
		if err != nil {
			return nil, fmt.Errorf("envelope %d: %w", i, err)
		}
		gap := m.size - len(env)
		if gap >= 0 && gap < 4 {
			out := make([]byte, 0, m.size)
			out = append(out, env[0])
			for range gap {
				out = append(out, ' ')
			}
			return append(out, env[1:]...), nil
		}
		// Whole base64 quanta: 3 payload bytes are 4 envelope bytes.
		q := gap / 4
		if gap < 0 {
			q = (gap - 3) / 4
		}
		pad += q * 3
	}
	return nil, fmt.Errorf("envelope %d: cannot make exactly %d bytes with %d subject(s)", i, m.size, m.subjects)
}

// makeEnvelopes signs envelopes 0 to n-1 with every core, reporting progress every second to progress if it
// is not nil.
func makeEnvelopes(ctx context.Context, m *maker, n int64, progress io.Writer) ([][]byte, error) {
	out := make([][]byte, n)
	var next, made atomic.Int64
	var firstErr error
	var errOnce sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := startCounter(progress, "signing envelopes", n, &made)
	defer stop()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				env, err := m.envelope(ctx, i)
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				out[i] = env
				made.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("signing envelopes: %w", err)
	}
	return out, nil
}

// startCounter prints "what: k/n" every second to w (nil: nothing) until the returned function is called.
func startCounter(w io.Writer, what string, n int64, k *atomic.Int64) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "%s: %d/%d\n", what, k.Load(), n)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
