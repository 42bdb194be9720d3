package server_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/store"
)

// The rows of BenchmarkReadPaths, as CI pipelines would have submitted them over six months. Every run of a
// pipeline makes six attestations, each step consuming the previous one's products (link v0.3 statements):
//
//	source (a git commit -> a tarball) -> fetch (+ dependency modules -> vendored modules)
//	  -> build (+ a toolchain -> 1-3 binaries) -> test (-> a report) and package (-> 1-2 packages)
//	  -> image (+ a base image -> the image)
//
// so that the image of every run has a 5-step provenance chain (the test step hangs off the side: it is among
// the dependents of the commit, not in the provenance of the image). Dependency modules, toolchains and base
// images come from shared pools that nothing in the project produces (the sources of the graphs). Between runs,
// vulnerability scans attest images again (subject: the image, no materials, as Submit stores the cosign vuln
// predicate): one run in five rescans one of the first readHotImages images, which thus collect hundreds of
// attestations each (a full List page), and two runs in five rescan a recent image.
//
// Everything a run contains is a function of its namespace and number, so the benchmark finds the digests of
// any chain again without reading the database. The second project's rows are one in readOtherEvery; half of
// its runs are copies of the bench project's run 20*r (same names and digests, its own keys) and it rescans the
// same hot images, so that every digest the benchmark asks for also exists in another project.
const (
	// readSeedVersion names what this file generates: raise it whenever the rows change, so that a cached
	// seed made by an older version is never reused.
	readSeedVersion = 1
	readHotImages   = 100
	readOtherEvery  = 20
	readSpan        = 180 * 24 * time.Hour // the rows' created_at spread over the six months before seeding
	readDepPool     = 5000
	readToolchains  = 12
	readBaseImages  = 30
	readSigners     = 8  // functionary keys per project
	readSubmitters  = 12 // CI tokens per project
	// readSignedEvery: the runs of the bench project numbered by a multiple of it have really signed envelopes
	// (the chains that the benchmark walks); the other rows carry placeholder signatures of the same size, as no
	// read path verifies signatures and signing a million envelopes would cost a quarter of the seed's time.
	readSignedEvery = 100
)

var readStepCommands = map[string][]string{
	"source": {"git", "archive", "HEAD"}, "fetch": {"go", "mod", "download"}, "build": {"make", "build"},
	"test": {"make", "test"}, "package": {"make", "package"}, "image": {"docker", "buildx", "build", "--push", "."},
}

// readStepOrder numbers the steps, to pick their keys.
var readStepOrder = map[string]int{"source": 0, "fetch": 1, "build": 2, "test": 3, "package": 4, "image": 5, "scan": 6}

const predicateVuln = "https://cosign.sigstore.dev/attestation/vuln/v1"

// readRow is one attestation of the seed. The generator fills the first fields; the seeding pipeline the rest.
type readRow struct {
	project             int // 0: the bench project, 1: the other one
	step, predicate     string
	subjects, materials []store.Artifact
	keys                []int // the signers, as indexes into the project's keys
	signed              bool  // really signed (readSignedEvery)
	submitter           int
	run                 int // the run whose content it is (for scans, the run of the image)

	seq       int64
	createdAt time.Time
	id        string
	env       []byte
	logIndex  int64
}

// readDigest is the sha256 of the artifact that role names in run r of namespace ns ("bench", "other", or
// "pool" for the shared pools, with r the pool index).
func readDigest(ns, role string, r, j int) string {
	return sha(fmt.Sprintf("readbench v%d %s %s %d %d", readSeedVersion, ns, role, r, j))
}

func readArtifact(name, digest string) store.Artifact {
	return store.Artifact{Name: name, Algorithm: "sha256", Digest: digest}
}

// readSource maps a run to the run whose content it has: the other project's even runs copy the bench
// project's run 20*r.
func readSource(ns string, r int) (string, int) {
	if ns == "other" && r%2 == 0 {
		return "bench", 20 * r
	}
	return ns, r
}

func readRepo(r int) string { return fmt.Sprintf("team-%02d/app-%02d", r%40, (r/40)%25) }

// readImage is the image that run r of ns produces.
func readImage(ns string, r int) store.Artifact {
	ns, r = readSource(ns, r)
	return readArtifact("registry.example.com/"+readRepo(r), readDigest(ns, "image", r, 0))
}

// readCommit is the git commit that run r of ns starts from: the source material of its chain.
func readCommit(ns string, r int) store.Artifact {
	ns, r = readSource(ns, r)
	return readArtifact("git+https://git.example.com/"+readRepo(r)+"@refs/heads/main", readDigest(ns, "commit", r, 0))
}

// readRun returns the six attestations of run r of namespace ns, in the order the pipeline submits them.
func readRun(ns string, r int) []readRow {
	src, sr := readSource(ns, r)
	rng := rand.New(rand.NewPCG(uint64(sr), uint64(len(src))))
	d := func(role string, j int) string { return readDigest(src, role, sr, j) }
	repo := readRepo(sr)
	app := repo[len(repo)-6:]
	// pool adds up to n distinct artifacts of a shared pool, the lower indexes far more often (a few modules
	// and images are everywhere).
	pool := func(out []store.Artifact, n int, kind string, size int, name string) []store.Artifact {
		seen := map[int]bool{}
		for range n {
			p := int(rng.ExpFloat64()*float64(size)/8) % size
			if !seen[p] {
				seen[p] = true
				out = append(out, readArtifact(fmt.Sprintf(name, p), readDigest("pool", kind, p, 0)))
			}
		}
		return out
	}
	numbered := func(n int, role, name string) []store.Artifact {
		out := make([]store.Artifact, n)
		for j := range out {
			out[j] = readArtifact(fmt.Sprintf(name, app, j), d(role, j))
		}
		return out
	}
	tarball := []store.Artifact{readArtifact(app+"-src.tar.gz", d("src", 0))}
	vendor := numbered(1+rng.IntN(2), "vendor", "%s-vendor-%d.tar.gz")
	bins := numbered(1+rng.IntN(3), "bin", "bin/%s-linux-%d")
	pkgs := numbered(1+rng.IntN(2), "pkg", "dist/%s_%d.deb")
	rows := []readRow{
		{step: "source", materials: []store.Artifact{readCommit(ns, r)}, subjects: tarball},
		{step: "fetch", materials: pool(tarball, rng.IntN(4), "dep", readDepPool, "deps/mod-%04d.zip"), subjects: vendor},
		{step: "build", materials: pool(append([]store.Artifact{}, vendor...), 1, "toolchain", readToolchains, "toolchain/go-1.%02d"), subjects: bins},
		{step: "test", materials: append([]store.Artifact{}, bins...), subjects: numbered(1, "report", "reports/%s-test-%d.xml")},
		{step: "package", materials: append([]store.Artifact{}, bins...), subjects: pkgs},
		{step: "image", materials: pool(append([]store.Artifact{}, pkgs...), 1, "base", readBaseImages, "docker.io/library/base-%02d"),
			subjects: []store.Artifact{readImage(ns, r)}},
	}
	for i := range rows {
		rows[i].predicate, rows[i].run, rows[i].submitter = attestation.PredicateLinkV03, r, r%readSubmitters
		rows[i].signed = ns == "bench" && r%readSignedEvery == 0
		k := readStepOrder[rows[i].step]*3 + r
		rows[i].keys = []int{k % readSigners}
		if rows[i].step == "image" { // images are countersigned
			rows[i].keys = append(rows[i].keys, (k+1)%readSigners)
		}
	}
	return rows
}

// readScan is a vulnerability scan of the image of run r of ns.
func readScan(ns string, r, submitter int) readRow {
	return readRow{step: "scan", predicate: predicateVuln, subjects: []store.Artifact{readImage(ns, r)}, run: r,
		keys: []int{readSigners - 1}, submitter: submitter}
}

// readProject generates one project's rows in submission order.
type readProject struct {
	ns      string
	index   int // 0 or 1
	run     int
	images  int // runs whose image row was generated: the complete chains
	pending []readRow
	rng     *rand.Rand
}

func (p *readProject) next() readRow {
	for len(p.pending) == 0 {
		r := p.run
		p.pending = append(p.pending, readRun(p.ns, r)...)
		if r >= readHotImages && p.rng.IntN(5) == 0 {
			p.pending = append(p.pending, readScan("bench", r%readHotImages, r%readSubmitters))
		}
		if r > 0 && p.rng.IntN(5) < 2 {
			p.pending = append(p.pending, readScan(p.ns, r-1-p.rng.IntN(min(r, 2000)), r%readSubmitters))
		}
		p.run++
	}
	row := p.pending[0]
	p.pending = p.pending[1:]
	row.project = p.index
	if row.step == "image" {
		p.images++
	}
	return row
}

// readStream interleaves the two projects: one row in readOtherEvery is the other project's.
type readStream struct {
	i       int
	n       int // rows of the bench project in all
	benchN  int // rows of the bench project so far
	project [2]readProject
}

func newReadStream(n int) *readStream {
	s := &readStream{n: n}
	s.project[0] = readProject{ns: "bench", index: 0, rng: rand.New(rand.NewPCG(1, 2))}
	s.project[1] = readProject{ns: "other", index: 1, rng: rand.New(rand.NewPCG(3, 4))}
	return s
}

// next returns the next row and true, or false when the bench project has its n rows.
func (s *readStream) next() (readRow, bool) {
	if s.benchN >= s.n {
		return readRow{}, false
	}
	s.i++
	if s.i%readOtherEvery == 0 {
		return s.project[1].next(), true
	}
	s.benchN++
	return s.project[0].next(), true
}

// payload is the in-toto statement of row, as a pipeline step would have signed it. It is written by hand
// (encoding/json through maps cost a tenth of the seed's time): every string in it is printable ASCII without
// quotes or backslashes, which strconv.AppendQuote writes as JSON does.
func (row *readRow) payload() []byte {
	out := make([]byte, 0, 1024)
	descs := func(as []store.Artifact) {
		out = append(out, '[')
		for i, a := range as {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"name":`...)
			out = strconv.AppendQuote(out, a.Name)
			out = append(out, `,"digest":{"`+a.Algorithm+`":"`+a.Digest+`"}}`...)
		}
		out = append(out, ']')
	}
	out = append(out, `{"_type":"`+attestation.StatementV1+`","subject":`...)
	descs(row.subjects)
	out = append(out, `,"predicateType":"`+row.predicate+`","predicate":`...)
	if row.step == "scan" {
		out = fmt.Appendf(out, `{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.0","db":{"uri":"pkg:oci/trivy-db","version":"2"}},`+
			`"result":{"critical":%d,"high":%d,"medium":%d},"metadata":{"scanFinishedOn":%q}}}`,
			row.run%3, row.run%7, row.run%11, row.createdAt.Format(time.RFC3339))
		return out
	}
	out = append(out, `{"name":"`+row.step+`","command":[`...)
	for i, c := range readStepCommands[row.step] {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendQuote(out, c)
	}
	out = append(out, `],"materials":`...)
	descs(row.materials)
	return fmt.Appendf(out, `,"byproducts":{"return-value":0},"environment":{"CI_PIPELINE":"%d"}}}`, row.run)
}

// readEnvelope is the DSSE envelope of payload signed by signers, with real signatures when sign is set and
// otherwise with placeholders of the same size (64 bytes derived from the payload's hash and the key).
func readEnvelope(payload []byte, signers []*signer, sign bool) []byte {
	out := make([]byte, 0, len(payload)*4/3+300)
	out = append(out, `{"payload":"`...)
	out = base64.StdEncoding.AppendEncode(out, payload)
	out = append(out, `","payloadType":"`+inTotoPayloadType+`","signatures":[`...)
	sum := sha256.Sum256(payload)
	for i, s := range signers {
		var sig []byte
		if sign {
			sig = ed25519.Sign(s.priv, dsse.PAE(inTotoPayloadType, payload))
		} else {
			a, b := sha256.Sum256(append(sum[:], s.id...)), sha256.Sum256(append(sum[:], 'x'))
			sig = append(a[:], b[:]...)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"keyid":"`+s.id+`","sig":"`...)
		out = base64.StdEncoding.AppendEncode(out, sig)
		out = append(out, `"}`...)
	}
	return append(out, "]}"...)
}
