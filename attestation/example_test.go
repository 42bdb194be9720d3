package attestation_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/attestd/attestd/attestation"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Example checks a DSSE envelope the way attestd's Submit does: parse the
// envelope, verify it against the project's keys, then read the statement.
func Example() {
	// A functionary key (fixed here so that the output is stable) and its
	// public half as an admin would register it.
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	key, err := attestation.ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		panic(err)
	}

	// What a CI runner submits.
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1",
		"subject":[{"name":"dist/app","digest":{"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}],
		"predicateType":"https://in-toto.io/attestation/link/v0.3",
		"predicate":{"name":"build","command":["make"],"materials":[{"name":"main.c","digest":{"sha256":"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9"}}]}}`)
	sig := ed25519.Sign(priv, dsse.PAE(attestation.PayloadType, payload))
	body := fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[{"keyid":%q,"sig":%q}]}`,
		attestation.PayloadType, base64.StdEncoding.EncodeToString(payload), key.ID, base64.StdEncoding.EncodeToString(sig))

	env, err := attestation.ParseEnvelope([]byte(body), attestation.DefaultLimits())
	if err != nil {
		panic(err)
	}
	signers, err := attestation.VerifySignatures(env, []*attestation.PublicKey{key})
	if err != nil {
		panic(err)
	}
	st, err := attestation.ParseStatement(env.Payload, attestation.DefaultLimits())
	if err != nil {
		panic(err)
	}
	fmt.Println("signed by:", signers[0] == key.ID)
	fmt.Println("step:", st.Step, st.Command)
	fmt.Println("product:", st.Subjects[0].Name)
	fmt.Println("material:", st.Materials[0].Name)

	// A digest as a user types it in a query, and a name that is refused.
	alg, value, _ := attestation.ParseDigest("sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae")
	fmt.Println(alg, value[:12])
	fmt.Println(attestation.CheckName("dist/../etc/passwd", attestation.DefaultLimits()))

	// Output:
	// signed by: true
	// step: build [make]
	// product: dist/app
	// material: main.c
	// sha256 2c26b46b68ff
	// name: "dist/../etc/passwd" contains a ".." path segment
}
