package attestor_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/attestd/attestd/attestor"
)

// A link with products is encoded as an in-toto Statement v1 with the link
// predicate; the bytes are deterministic.
func ExampleLink_Payload() {
	link := &attestor.Link{
		Step:      "build",
		Command:   []string{"make", "app"},
		Materials: []attestor.Artifact{{Name: "main.c", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		Products:  []attestor.Artifact{{Name: "app", SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}},
	}
	payload, err := link.Payload()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(payload))
	// Output:
	// {"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app","digest":{"sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}],"predicateType":"https://in-toto.io/attestation/link/v0.3","predicate":{"byproducts":{"return-value":0},"command":["make","app"],"environment":{},"materials":[{"digest":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"name":"main.c"}],"name":"build"}}
}

// Recording, signing and (here, instead of submitting) writing an envelope.
func ExampleRecorder() {
	dir, err := os.MkdirTemp("", "attestor-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "main.c"), []byte("int main() { return 0; }\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	rec := &attestor.Recorder{Dir: dir}
	materials, err := rec.Record(ctx, []string{"./src"})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range materials {
		fmt.Println(m.Name, m.SHA256[:12], m.Size)
	}

	privatePEM, _, err := attestor.GenerateKey(attestor.KeyEd25519)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := attestor.LoadSigner(privatePEM)
	if err != nil {
		log.Fatal(err)
	}
	link := &attestor.Link{Step: "test", Command: []string{"make", "test"}, Materials: materials}
	payload, err := link.Payload() // no products: a classic in-toto link
	if err != nil {
		log.Fatal(err)
	}
	envelope, err := signer.Sign(ctx, attestor.PayloadType, payload)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(envelope) > 0)
	// Output:
	// src/main.c deac66ccb79f 25
	// true
}
