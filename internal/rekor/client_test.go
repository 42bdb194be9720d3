package rekor

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/rekor/pkg/generated/models"
)

func TestNewClientURL(t *testing.T) {
	good := []string{
		"http://127.0.0.1:3000",
		"http://127.0.0.1:3000/",
		"https://rekor.example:8443",
		"https://[::1]:3000/prefix/",
	}
	for _, u := range good {
		if _, err := NewClient(u); err != nil {
			t.Errorf("NewClient(%q): %v", u, err)
		}
	}
	bad := []string{
		"",
		"127.0.0.1:3000",
		"rekor.example",
		"ftp://rekor.example",
		"file:///etc/passwd",
		"http://",
		"http:///api",
		"http://user:secret@rekor.example",
		"http://user@rekor.example",
		"http://user:secret@rekor.example:bad",
		"http://user:secret@rekor example",
		"http://rekor.example/?apiKey=1",
		"http://rekor.example/?",
		"http://rekor.example/#x",
		"http://rekor.example:port",
		"http://rekor example",
		"mailto:rekor@example",
	}
	for _, u := range bad {
		c, err := NewClient(u)
		if err == nil {
			t.Errorf("NewClient(%q) = %v, want an error", u, c)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("NewClient(%q) error shows the password: %v", u, err)
		}
	}
	if _, err := NewClient("http://127.0.0.1:3000", WithTimeout(0)); err == nil {
		t.Error("NewClient with timeout 0: no error")
	}
}

// fakeServer answers as Rekor's API does, with what its fields say.
type fakeServer struct {
	create  func(w http.ResponseWriter) // POST /api/v1/log/entries
	entries map[string]Entry            // GET /api/v1/log/entries/{uuid}
	pubKey  string                      // GET /api/v1/log/publicKey
	calls   atomic.Int32
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	const entriesPath = "/api/v1/log/entries"
	switch {
	case r.Method == http.MethodPost && r.URL.Path == entriesPath:
		f.create(w)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, entriesPath+"/"):
		e, ok := f.entries[strings.TrimPrefix(r.URL.Path, entriesPath+"/")]
		if !ok {
			writeError(w, http.StatusNotFound, "no such entry")
			return
		}
		writeEntry(w, http.StatusOK, e)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/log/publicKey":
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write([]byte(f.pubKey))
	default:
		writeError(w, http.StatusNotFound, "no route")
	}
}

func writeEntry(w http.ResponseWriter, status int, e Entry) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(models.LogEntry{e.UUID: *e.anon()})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(models.Error{Code: int64(status), Message: msg})
}

func serveFake(t *testing.T, f *fakeServer) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, WithRetries(1), WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUploadCreated(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	want := log.add(t, env, key)
	c := serveFake(t, &fakeServer{create: func(w http.ResponseWriter) { writeEntry(w, http.StatusCreated, want) }})
	got, err := c.UploadDSSE(context.Background(), env, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UploadDSSE = %+v, want %+v", got, want)
	}
}

func TestUploadConflictFetchesTheEntry(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	want := log.add(t, env, key)
	f := &fakeServer{entries: map[string]Entry{want.UUID: want}}
	f.create = func(w http.ResponseWriter) {
		w.Header().Set("Location", "http://rekor.example/api/v1/log/entries/"+want.UUID)
		writeError(w, http.StatusConflict, "an equivalent entry already exists in the transparency log")
	}
	c := serveFake(t, f)
	got, err := c.UploadDSSE(context.Background(), env, [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UploadDSSE = %+v, want %+v", got, want)
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (POST, GET)", n)
	}
}

func TestUploadErrors(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	otherEnv, otherKey := signedEnvelope(t)
	other := log.add(t, otherEnv, otherKey)
	mine := log.add(t, env, key)
	status := func(code int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { writeError(w, code, "no") }
	}
	cases := []struct {
		name     string
		create   func(w http.ResponseWriter)
		want     error
		requests int32
	}{
		{"400", status(http.StatusBadRequest), ErrPermanent, 1},
		{"403", status(http.StatusForbidden), ErrPermanent, 1},
		{"413", status(http.StatusRequestEntityTooLarge), ErrPermanent, 1},
		{"422", status(http.StatusUnprocessableEntity), ErrPermanent, 1},
		{"429, retried", status(http.StatusTooManyRequests), ErrUnavailable, 2},
		{"500, retried", status(http.StatusInternalServerError), ErrUnavailable, 2},
		{"503, retried", status(http.StatusServiceUnavailable), ErrUnavailable, 2},
		{"409 without Location", status(http.StatusConflict), ErrUnavailable, 1},
		// Rekor says the entry exists but cannot serve it yet (queued, not integrated, after an answer lost in
		// an outage): a later attempt can fetch it.
		{"409 for an entry not served yet", func(w http.ResponseWriter) {
			w.Header().Set("Location", "/api/v1/log/entries/"+strings.Repeat("ab", 32))
			writeError(w, http.StatusConflict, "exists")
		}, ErrUnavailable, 2},
		{"not JSON", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("<html>"))
		}, ErrUnavailable, 1},
		{"two entries", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(models.LogEntry{mine.UUID: *mine.anon(), other.UUID: *other.anon()})
		}, ErrUnavailable, 1},
		{"the entry of another envelope", func(w http.ResponseWriter) { writeEntry(w, http.StatusCreated, other) }, ErrEnvelopeMismatch, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServer{create: tc.create}
			c := serveFake(t, f)
			_, err := c.UploadDSSE(context.Background(), env, [][]byte{key})
			if !errors.Is(err, tc.want) {
				t.Fatalf("UploadDSSE = %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrPermanent) == errors.Is(err, ErrUnavailable) {
				t.Fatalf("error %v wraps both or neither of ErrPermanent and ErrUnavailable", err)
			}
			if n := f.calls.Load(); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
			t.Log(err)
		})
	}
}

func TestUploadRefusesBeforeSending(t *testing.T) {
	env, key := signedEnvelope(t)
	_, otherKey := signedEnvelope(t)
	f := &fakeServer{create: func(w http.ResponseWriter) { t.Error("a request was sent") }}
	c := serveFake(t, f)
	cases := map[string]struct {
		env  []byte
		keys [][]byte
	}{
		"empty envelope":       {nil, [][]byte{key}},
		"no key":               {env, nil},
		"not the signer's key": {env, [][]byte{otherKey}},
		"not a key":            {env, [][]byte{[]byte("key")}},
		"not JSON":             {[]byte("{"), [][]byte{key}},
		"a signature changed":  {[]byte(strings.Replace(string(env), `"sig":"`, `"sig":"AAAA`, 1)), [][]byte{key}},
	}
	for name, tc := range cases {
		if _, err := c.UploadDSSE(context.Background(), tc.env, tc.keys); !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: UploadDSSE = %v, want ErrPermanent", name, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := NewClient("http://"+addr, WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	env, key := signedEnvelope(t)
	if _, err := c.UploadDSSE(context.Background(), env, [][]byte{key}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("UploadDSSE = %v, want ErrUnavailable", err)
	}
	if _, err := c.PublicKey(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PublicKey = %v, want ErrUnavailable", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	c, err := NewClient(srv.URL, WithRetries(0), WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.PublicKey(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PublicKey = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("PublicKey took %v with a 100ms timeout", d)
	}
}

func TestEntryAndPublicKey(t *testing.T) {
	log := newFakeLog(t)
	env, key := signedEnvelope(t)
	e := log.add(t, env, key)
	f := &fakeServer{entries: map[string]Entry{e.UUID: e}, pubKey: string(log.pubPEM)}
	c := serveFake(t, f)
	ctx := context.Background()
	got, err := c.Entry(ctx, e.UUID)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("Entry = %+v, %v", got, err)
	}
	if _, err := c.Entry(ctx, strings.Repeat("0", 64)); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Entry of a missing UUID = %v, want ErrPermanent (404)", err)
	}
	if _, err := c.Entry(ctx, "../publicKey"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Entry of a bad UUID = %v, want ErrPermanent", err)
	}
	pub, err := c.PublicKey(ctx)
	if err != nil || string(pub) != string(log.pubPEM) {
		t.Fatalf("PublicKey = %s, %v", pub, err)
	}
	f.pubKey = "not a key"
	if _, err := c.PublicKey(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("PublicKey of a garbled answer = %v, want ErrUnavailable", err)
	}
}

// TestAnswersAreBounded: an answer larger than MaxResponseBytes is not read to its end (an error, not a cut
// answer), and a redirect is never followed: the URL was allowed, where it points to was not.
func TestAnswersAreBounded(t *testing.T) {
	env, key := signedEnvelope(t)
	huge := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"` + strings.Repeat("a", MaxResponseBytes) + `": {}}`))
	}
	c := serveFake(t, &fakeServer{create: huge})
	_, err := c.UploadDSSE(context.Background(), env, [][]byte{key})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "over") {
		t.Fatalf("a %d-byte answer: %v", MaxResponseBytes+10, err)
	}

	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	redirect := func(w http.ResponseWriter) {
		w.Header().Set("Location", target.URL+"/api/v1/log/entries")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
	c = serveFake(t, &fakeServer{create: redirect})
	if _, err := c.UploadDSSE(context.Background(), env, [][]byte{key}); err == nil {
		t.Fatal("a redirect was taken for an answer")
	} else if errors.Is(err, ErrPermanent) == errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v wraps both or neither of ErrPermanent and ErrUnavailable", err)
	} else {
		t.Log(err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the redirect was followed: %d requests elsewhere", n)
	}
}
