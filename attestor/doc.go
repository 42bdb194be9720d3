// Package attestor is the client side of attestd: it records what a build step
// read and wrote, turns that into a signed in-toto attestation, and submits it.
//
// A step is attested in four moves, which the attest CLI ("attest run") makes
// for you and which a program can make itself:
//
//  1. Record the materials (the files the step reads) with a Recorder. Files are
//     hashed with streaming SHA-256, directories are walked recursively in
//     lexical order, and every file is named as in-toto names it: a path
//     relative to the working directory, with forward slashes, cleaned, without
//     a leading "./".
//  2. Run the step, then record its products the same way.
//  3. Describe the run as a Link (step name, command, materials, products,
//     exit code) and encode it with Link.Payload: an in-toto Statement v1 whose
//     subjects are the products and whose predicate is an in-toto link
//     (https://in-toto.io/attestation/link/v0.3), encoded with protojson.
//  4. Sign the payload with a Signer, which wraps it in a DSSE envelope, and
//     submit the envelope with a Client. The server answers with a receipt.
//
// For example:
//
//	rec := &attestor.Recorder{}
//	materials, err := rec.Record(ctx, []string{"src", "go.mod"})
//	// ... run the build ...
//	products, err := rec.Record(ctx, []string{"bin/app"})
//	link := &attestor.Link{Step: "build", Command: []string{"make"}, Materials: materials, Products: products}
//	payload, err := link.Payload()
//	signer, err := attestor.LoadSigner(privatePEM)
//	envelope, err := signer.Sign(ctx, attestor.PayloadType, payload)
//	client, err := attestor.Dial(ctx, "attestd.example.com:7700", attestor.DialOptions{Token: token})
//	receipt, err := client.Submit(ctx, "", envelope)
//
// Every accepted attestation also gets a leaf in attestd's transparency log, and
// its receipt says at which index. Client.SubmitWait waits for a signed
// checkpoint that covers the leaf and returns its inclusion proof with the
// receipt. The package does not verify proofs: that needs the log's key (what
// "attestd log-key" prints) and a memory of the checkpoints seen before, which
// the attest CLI keeps ("attest help log").
//
// What is signed is exactly the payload bytes: the package never re-serializes a
// statement after building it, because a JSON round trip through protobuf's
// structpb turns every number into a float64 and would change the bytes.
//
// Keys are PEM files: private keys in PKCS#8 ("PRIVATE KEY"; PKCS#1 and SEC1 are
// read too), public keys in PKIX ("PUBLIC KEY"), so that in-toto-golang and
// securesystemslib load the same files. A key is known by its in-toto key id,
// which attestd, in-toto-golang and securesystemslib compute alike.
//
// The package never reads a whole artifact into memory and keeps no global
// state: Recorders, Signers and Clients may be used from several goroutines
// (a Recorder's Progress callback is called from the goroutine that calls
// Record).
package attestor
