package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/attestd/attestd/attestor"
)

// client connects to the server named by the global flags. No token is a
// usage error: every attestd call needs one.
func (e *env) client() (*attestor.Client, error) {
	if e.g.token == "" {
		return nil, usageError(e.cmdName(), "no token: pass --token or set ATTEST_TOKEN")
	}
	c, err := attestor.Dial(e.ctx, e.g.server, attestor.DialOptions{
		Token: e.g.token, Plaintext: e.g.plaintext, CAFile: e.g.caFile,
	})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return c, nil
}

// rpcContext bounds the calls to the server by --timeout.
func (e *env) rpcContext() (context.Context, context.CancelFunc) {
	if e.g.timeout <= 0 {
		return context.WithCancel(e.ctx)
	}
	return context.WithTimeout(e.ctx, e.g.timeout)
}

// rpcError turns an error from a call into "<what>: <CODE>: <message>" with
// the exit code it deserves: 2 when the server could not be reached or did
// not answer in time, 1 when it refused.
func (e *env) rpcError(what string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %w", what, err)}
	}
	code, msg := exitFailed, st.Message()
	switch st.Code() {
	case codes.Unavailable:
		code = exitUsage
		if strings.HasSuffix(msg, "retry later") {
			// attestd answered: its database or log is down for now.
			msg = fmt.Sprintf("attestd at %s is unavailable: %s", e.g.server, msg)
			break
		}
		msg = fmt.Sprintf("cannot reach attestd at %s: %s", e.g.server, msg)
		if strings.Contains(msg, "first record does not look like a TLS handshake") {
			msg += " (the server does not speak TLS: add --plaintext)"
		}
	case codes.DeadlineExceeded:
		code = exitUsage
		msg = fmt.Sprintf("no answer from %s within --timeout %s: %s", e.g.server, e.g.timeout, msg)
	}
	return &exitError{code: code, err: fmt.Errorf("%s: %s: %s", what, codeName(st.Code()), msg)}
}

// codeName spells a gRPC code as the gRPC documentation does:
// PERMISSION_DENIED, not PermissionDenied.
func codeName(c codes.Code) string {
	if c == codes.OK {
		return "OK"
	}
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// printJSON writes a plain Go value as indented JSON. API messages go
// through printProto instead.
func (e *env) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// printProto writes an API message with protojson, field names as in the
// API's JSON mapping (camelCase).
func (e *env) printProto(m proto.Message) error {
	b, err := marshalProto(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

func marshalProto(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return b, nil
}

// table returns a writer for aligned columns, with header written. Flush it.
func (e *env) table(header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// fmtTime formats a timestamp for a table; "" when unset.
func fmtTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// readFile reads at most max bytes of a file, refusing larger ones.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return b, nil
}

// writeFile replaces path with data atomically (a temporary file renamed over
// it), so that a reader never sees half an envelope.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeNewFile writes a file that must not exist yet (unless force), with
// perm from the start, so that a private key is never readable by others.
func writeNewFile(path string, data []byte, perm os.FileMode, force bool) error {
	if force {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
