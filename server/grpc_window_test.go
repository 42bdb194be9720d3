package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"golang.org/x/net/http2"

	attestdv1 "github.com/attestd/attestd/api/attestd/v1"
	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/attestor"
	"github.com/attestd/attestd/server"
)

// TestNoPingPerCall checks that neither attestd nor attestor's client pings the other during calls: with gRPC's
// default windows each side pings whenever data arrives and no ping of its own is out, so one call at a time on a
// connection costs a ping and its acknowledgement in each direction. It reads the HTTP/2 frames that crossed the
// connection during twenty calls.
func TestNoPingPerCall(t *testing.T) {
	e := newEnv(t, attestation.DefaultLimits())
	tokens := e.project("pings")

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapListener{Listener: lis}
	gs, _ := e.srv.NewGRPCServer(server.GRPCOptions{})
	go func() { _ = gs.Serve(tap) }()
	t.Cleanup(gs.Stop)

	ctx := context.Background()
	c, err := attestor.Dial(ctx, lis.Addr().String(), attestor.DialOptions{Token: tokens["reader"], Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := c.Log.GetCheckpoint(ctx, &attestdv1.GetCheckpointRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	toServer, toClient := tap.traffic(t)
	fromClient := countFrames(t, bytes.TrimPrefix(toServer, []byte(http2.ClientPreface)))
	fromServer := countFrames(t, toClient)
	if fromClient.data < 20 || fromServer.data < 20 {
		t.Fatalf("DATA frames: %d from the client, %d from the server; want at least 20 each (one per call)",
			fromClient.data, fromServer.data)
	}
	if fromClient.pings != 0 || fromServer.pings != 0 {
		t.Errorf("pings during 20 calls: %d from the client, %d from the server; want none", fromClient.pings, fromServer.pings)
	}
}

// TestGatewayNoPingPerCall: the REST gateway's in-memory connection to the gRPC server carries no pings
// during calls either.
func TestGatewayNoPingPerCall(t *testing.T) {
	e := newEnv(t, attestation.DefaultLimits())
	tokens := e.project("gateway-pings")
	gs, _ := e.srv.NewGRPCServer(server.GRPCOptions{})
	gw, err := server.NewGateway(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapListener{Listener: gw.Listener()}
	go func() { _ = gs.Serve(tap) }()
	t.Cleanup(gs.Stop)
	web := httptest.NewServer(gw)
	t.Cleanup(web.Close)
	r := &rest{t: t, base: web.URL}
	for range 20 {
		if code, body := r.do(http.MethodGet, "/v1/log/checkpoint", tokens["reader"], nil); code != http.StatusOK {
			t.Fatalf("GET /v1/log/checkpoint: %d %s", code, body)
		}
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	gs.Stop()

	toServer, toClient := tap.traffic(t)
	fromClient := countFrames(t, bytes.TrimPrefix(toServer, []byte(http2.ClientPreface)))
	fromServer := countFrames(t, toClient)
	if fromServer.data < 20 {
		t.Fatalf("DATA frames from the server: %d; want at least 20 (one per call)", fromServer.data)
	}
	if fromClient.pings != 0 || fromServer.pings != 0 {
		t.Errorf("pings during 20 calls: %d from the gateway, %d from the server; want none", fromClient.pings, fromServer.pings)
	}
}

// tapListener keeps a copy of the bytes that crossed its one accepted connection, each way.
type tapListener struct {
	net.Listener
	mu       sync.Mutex
	conns    int
	toServer bytes.Buffer
	toClient bytes.Buffer
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns++
	l.mu.Unlock()
	return &tapConn{Conn: c, l: l}, nil
}

func (l *tapListener) traffic(t *testing.T) (toServer, toClient []byte) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns != 1 {
		t.Fatalf("%d connections accepted, want 1", l.conns)
	}
	return bytes.Clone(l.toServer.Bytes()), bytes.Clone(l.toClient.Bytes())
}

type tapConn struct {
	net.Conn
	l *tapListener
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.toServer.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

func (c *tapConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.mu.Lock()
	c.l.toClient.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

type frameCounts struct{ data, pings int }

// countFrames counts the DATA frames and the pings (PING frames other than acknowledgements) in b, a stream of
// HTTP/2 frames that may end mid-frame (the connection closed while bytes were on their way).
func countFrames(t *testing.T, b []byte) frameCounts {
	t.Helper()
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	fr.SetMaxReadFrameSize(1 << 24)
	var n frameCounts
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n
		}
		if err != nil {
			t.Fatalf("frame %d: %v", n.data+n.pings, err)
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			n.data++
		case *http2.PingFrame:
			if !f.IsAck() {
				n.pings++
			}
		}
	}
}
