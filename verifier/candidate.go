package verifier

import (
	"fmt"

	"github.com/attestd/attestd/attestation"
)

// ReadAttestation reads a candidate attestation from its envelope, as submitted: it parses the envelope with
// lim, checks its signatures against keys (the project's functionary keys) and parses its statement. What the
// engine judges (step, predicate type, materials, products, signers) comes from the signed content only; the
// caller sets IntegratedAt, and must have checked that the envelope is the one its log leaf commits to.
//
// When the candidate cannot count whatever the decision, it returns why, as a reason of a decision
// ("attestation ID does not count: ..."), and an empty Attestation. The server's Verify and the offline
// verifier both read candidates here, so that they word the same candidate alike.
func ReadAttestation(id string, envelope []byte, keys []*attestation.PublicKey, lim attestation.Limits) (Attestation, string) {
	env, err := attestation.ParseEnvelope(envelope, lim)
	if err != nil {
		return Attestation{}, fmt.Sprintf("attestation %s does not count: its envelope does not parse: %v", id, err)
	}
	signers, err := attestation.VerifySignatures(env, keys)
	if err != nil {
		return Attestation{}, fmt.Sprintf("attestation %s does not count: no signature verifies with a functionary key of the project", id)
	}
	stmt, err := attestation.ParseStatement(env.Payload, lim)
	if err != nil {
		return Attestation{}, fmt.Sprintf("attestation %s does not count: its statement does not parse: %v", id, err)
	}
	return Attestation{
		ID:            id,
		Step:          stmt.Step,
		Signers:       signers,
		PredicateType: stmt.PredicateType,
		Materials:     digestsByName(stmt.Materials),
		Products:      digestsByName(stmt.Subjects),
	}, ""
}

// digestsByName turns descriptors into in-toto's name -> digest set; a descriptor without a name is named by
// its URI, and one named twice has the union of its digests (the later one's value for an algorithm both give).
func digestsByName(ds []attestation.Descriptor) map[string]map[string]string {
	out := make(map[string]map[string]string, len(ds))
	for _, d := range ds {
		if len(d.Digest) == 0 {
			continue
		}
		name := d.Name
		if name == "" {
			name = d.URI
		}
		if out[name] == nil {
			out[name] = make(map[string]string, len(d.Digest))
		}
		for alg, v := range d.Digest {
			out[name][alg] = v
		}
	}
	return out
}
