package rekor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestd/attestd/internal/rekor"
)

// Anchoring an envelope in Rekor, keeping the entry, and checking it later
// without Rekor. (Compiled, not run: it needs a Rekor server.)
func ExampleClient_UploadDSSE() {
	ctx := context.Background()
	var envelope, signerPEM, rekorPEM []byte // the DSSE envelope as submitted, its signer's key, the pinned Rekor key

	c, err := rekor.NewClient("http://127.0.0.1:3077", rekor.WithTimeout(10*time.Second))
	if err != nil {
		panic(err)
	}
	e, err := c.UploadDSSE(ctx, envelope, [][]byte{signerPEM})
	switch {
	case errors.Is(err, rekor.ErrPermanent):
		fmt.Println("refused:", err) // the same upload would fail again
		return
	case err != nil:
		fmt.Println("retry later:", err)
		return
	}
	stored, err := e.Marshal() // for a database column
	if err != nil {
		panic(err)
	}

	// Later, offline.
	e, err = rekor.ParseEntry(stored)
	if err == nil {
		err = rekor.VerifyEntry(ctx, e, envelope, rekorPEM)
	}
	fmt.Println("anchored at index", e.LogIndex, "verified:", err == nil)
}
