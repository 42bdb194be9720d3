package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium package, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// htmlStep is a step name that a careless page would turn into markup.
const htmlStep = "<b>x</b>"

// requireBrowser skips the test when Chromium is not installed, or fails it with ATTESTD_REQUIRE_BROWSER=1
// (CI), so that a CI run without a browser cannot pass silently.
func requireBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ATTESTD_REQUIRE_BROWSER") == "1" {
			t.Fatalf("%s is missing and ATTESTD_REQUIRE_BROWSER=1: apt-get install chromium", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install chromium; ATTESTD_REQUIRE_BROWSER=1 makes this a failure)", chromiumPath)
	}
}

// webChain is a recorded supply chain: upstream.c (a source no step produced) -> step <b>x</b> -> src.tar ->
// build -> app.tar -> package -> app.deb, with the layout "release" over the three steps and the policy "debs"
// binding *.deb files to it.
type webChain struct {
	deb, tar, src, upstream string // sha256:HEX digests
}

func recordWebChain(t *testing.T, d *daemon, pa *cli) webChain {
	t.Helper()
	dir := pa.dir
	runner := &cli{t: t, d: d, dir: dir}
	runner.token = strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "attestor"))
	pa.ok("keygen", "--out", "owner.pem")
	pa.ok("keygen", "--out", "ci.pem")
	pa.ok("--plaintext", "key", "add", "--pub", "owner.pem.pub", "--owner")
	pa.ok("--plaintext", "key", "add", "--pub", "ci.pem.pub")
	if err := os.WriteFile(filepath.Join(dir, "upstream.c"), []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The step name holds a '/', so it cannot name the envelope file: --out does.
	runner.ok("--plaintext", "run", "--wait", "--step", htmlStep, "--out", "checkout.intoto.json", "--key", "ci.pem",
		"--materials", "upstream.c", "--products", "src.tar", "--", "sh", "-c", "cat upstream.c > src.tar && echo src >> src.tar")
	runner.ok("--plaintext", "run", "--wait", "--step", "build", "--key", "ci.pem", "--materials", "src.tar",
		"--products", "app.tar", "--", "sh", "-c", "cat src.tar > app.tar && echo built >> app.tar")
	runner.ok("--plaintext", "run", "--wait", "--step", "package", "--key", "ci.pem", "--materials", "app.tar",
		"--products", "app.deb", "--", "sh", "-c", "cat app.tar > app.deb && echo deb >> app.deb")

	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	pa.ok("layout", "new", "--step", htmlStep+":ci.pem.pub", "--step", "build:ci.pem.pub", "--step", "package:ci.pem.pub",
		"--expires", expires, "--out", "release.json")
	addRules(t, filepath.Join(dir, "release.json"), map[string][2][][]string{
		htmlStep: {{{"ALLOW", "upstream.c"}, {"DISALLOW", "*"}}, {{"CREATE", "src.tar"}, {"DISALLOW", "*"}}},
		"build": {{{"MATCH", "src.tar", "WITH", "PRODUCTS", "FROM", htmlStep}, {"DISALLOW", "*"}},
			{{"CREATE", "app.tar"}, {"DISALLOW", "*"}}},
		"package": {{{"MATCH", "app.tar", "WITH", "PRODUCTS", "FROM", "build"}, {"DISALLOW", "*"}},
			{{"CREATE", "app.deb"}, {"DISALLOW", "*"}}},
	})
	pa.ok("layout", "sign", "--key", "owner.pem", "--in", "release.json", "--out", "release.dsse")
	pa.ok("--plaintext", "layout", "push", "--name", "release", "release.dsse")
	pa.ok("--plaintext", "policy", "set", "--name", "debs", "--kind", "file", "--match", "*.deb", "--layout", "release")

	digest := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
	}
	return webChain{deb: digest("app.deb"), tar: digest("app.tar"), src: digest("src.tar"), upstream: digest("upstream.c")}
}

// newBrowser starts headless Chromium for the test and returns a tab's context. Uncaught exceptions and
// Content-Security-Policy violations the page causes are collected for problems.
func newBrowser(t *testing.T) (ctx context.Context, problems func() []string) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the test runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	// The first call starts the browser and binds it to tab, which has no deadline of its own.
	if err := chromedp.Do(tab); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	var mu sync.Mutex
	var seen []string
	messages := chromedp.Console(tab)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// A refused fetch (the wrong token's 401) is logged by the browser too, and is expected.
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				seen = append(seen, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancelTab(); cancelAlloc(); <-done })
	ctx, cancel := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(cancel)
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

// page runs browser actions and fails the test with what it was doing when one fails.
func page(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// read runs one browser action that returns a value.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text is the textContent of the first element that the CSS selector sel matches, once it is there.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return read(t, ctx, "read "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return read(t, ctx, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// waitText waits until the element sel holds want in its text.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const n = document.querySelector(%q); return !!n && n.textContent.includes(%q); })()`, sel, want)
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](t, ctx, js) {
		if time.Now().After(deadline) {
			got := eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || "(no element)"`, sel))
			screenshot(t, ctx, "failed")
			t.Fatalf("%s never showed %q; it shows %q", sel, want, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the page as PNG into $ATTESTD_WEB_SCREENSHOTS, when set, for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ATTESTD_WEB_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := read(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// restGet calls attestd's REST/JSON API as the test, to learn what the page should show.
func restGet(t *testing.T, d *daemon, token, path string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+d.httpAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestWebPage: the release managers' page, driven in headless Chromium against a running attestd. A wrong
// token is refused in words; with a verifier token the project is prefilled; a search for the packaged
// artifact draws its three steps back to the source, lists the same graph as text, opens a step with its log
// index and a proof verified in the browser, shows what was built from a material, and verifies the artifact
// (allowed, with the layout) and a wrong digest (denied, with reasons). The step named "<b>x</b>" is shown as
// text everywhere and creates no element.
func TestWebPage(t *testing.T) {
	requireBrowser(t)
	d, _, pa := startShop(t)
	chain := recordWebChain(t, d, pa)
	token := strings.TrimSpace(pa.ok("--plaintext", "token", "create", "--role", "verifier"))
	var built struct {
		Attestations []struct {
			Receipt struct {
				ID       string `json:"id"`
				Step     string `json:"step"`
				LogIndex string `json:"logIndex"`
			} `json:"receipt"`
		} `json:"attestations"`
	}
	restGet(t, d, token, "/v1/projects/shop/attestations?omitEnvelopes=true&subjectDigest="+url.QueryEscape(chain.tar), &built)
	if len(built.Attestations) != 1 || built.Attestations[0].Receipt.Step != "build" {
		t.Fatalf("attestations of app.tar: %+v", built)
	}
	buildLogIndex := built.Attestations[0].Receipt.LogIndex

	ctx, problems := newBrowser(t)
	page(t, ctx, "open the page", chromedp.Navigate("http://"+d.httpAddr+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	waitText(t, ctx, "#session-status", "type a token")

	// Errors in words: a token attestd does not know, and something that is not a digest.
	page(t, ctx, "use a wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-a-token"), chromedp.Click(chromedp.ID("token-use")))
	waitText(t, ctx, "#session-status", "token not accepted")
	page(t, ctx, "forget it", chromedp.Click(chromedp.ID("token-forget")))
	waitText(t, ctx, "#session-status", "token forgotten")
	page(t, ctx, "use the verifier token", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("token-use")))
	waitText(t, ctx, "#session-status", "token accepted")
	project := read(t, ctx, "read the project", chromedp.Value(chromedp.ID("project")))
	if project != "shop" {
		t.Fatalf("project field: %q, want shop (from GET /v1/projects)", project)
	}
	page(t, ctx, "search a non-digest", chromedp.SendKeys(chromedp.ID("digest"), "sha256:1234"), chromedp.Click(chromedp.ID("search")))
	waitText(t, ctx, "#status", "not a digest")

	// The graph of app.deb: package <- app.tar <- build <- src.tar <- <b>x</b> <- upstream.c (a source).
	page(t, ctx, "search app.deb", chromedp.SetValue(chromedp.ID("digest"), chain.deb), chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.ID("graph-svg")))
	waitText(t, ctx, "#graph-summary", "3 attestation(s), 1 source(s)")
	screenshot(t, ctx, "graph")
	steps := eval[[]string](t, ctx, `[...document.querySelectorAll("#graph-svg g.step text.label")].map(n => n.textContent).sort()`)
	if want := []string{htmlStep, "build", "package"}; fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("step boxes of the graph: %q, want %q", steps, want)
	}
	arts := eval[struct {
		Source int `json:"source"`
		Target int `json:"target"`
		Built  int `json:"built"`
	}](t, ctx, `({source: document.querySelectorAll("#graph-svg g.artifact.source").length,
		target: document.querySelectorAll("#graph-svg g.artifact.target").length,
		built: document.querySelectorAll("#graph-svg g.artifact.built").length})`)
	if arts.Source != 1 || arts.Target != 1 || arts.Built != 2 {
		t.Fatalf("artifact ellipses: %+v, want 1 source, 1 target, 2 built", arts)
	}
	edges := eval[int](t, ctx, `document.querySelectorAll("#graph-svg path.edge").length`)
	if edges != 6 {
		t.Fatalf("%d edges drawn, want 6 (upstream.c -> %s -> src.tar -> build -> app.tar -> package -> app.deb)", edges, htmlStep)
	}
	list := text(t, ctx, "#graph-list")
	for _, want := range []string{"step package", "step build", "step " + htmlStep, "consumed app.tar " + chain.tar + " made by step build",
		"consumed src.tar " + chain.src + " made by step " + htmlStep, "consumed upstream.c " + chain.upstream + " (source)",
		"produced app.deb " + chain.deb, "sources"} {
		if !strings.Contains(list, want) {
			t.Fatalf("the graph's text list lacks %q:\n%s", want, list)
		}
	}
	if !strings.Contains(mustLocation(t, ctx), "#/p/shop/digest/"+chain.deb) {
		t.Fatalf("the URL does not name the search: %s", mustLocation(t, ctx))
	}

	// A step's details: its log index and a proof checked in the browser; the URL names it.
	page(t, ctx, "open the build step", chromedp.Click(chromedp.CSS(`#graph-svg g.step[data-step="build"]`)))
	waitText(t, ctx, "#details h3", "build")
	waitText(t, ctx, "#proof-status", "included in tree of size")
	if s := text(t, ctx, "#proof-status"); !strings.HasSuffix(s, "verified") || strings.Contains(s, "does not verify") {
		t.Fatalf("proof status: %q; checks:\n%s", s, eval[string](t, ctx, `[...document.querySelectorAll("#proof-checks li")].map(n => n.textContent).join("\n")`))
	}
	// Every link of the chain checked, the checkpoint's Ed25519 signature too: none failed, none skipped.
	if n := eval[int](t, ctx, `document.querySelectorAll("#proof-checks li:not(.ok)").length`); n != 0 {
		t.Fatalf("%d proof checks failed or were skipped:\n%s", n, text(t, ctx, "#proof-checks"))
	}
	if got := text(t, ctx, `#details-list dd[data-field="log index"]`); got != buildLogIndex {
		t.Fatalf("log index shown: %q, want %q", got, buildLogIndex)
	}
	details := text(t, ctx, "#details-list")
	for _, want := range []string{built.Attestations[0].Receipt.ID, "https://in-toto.io/Statement/v1", chain.src, chain.tar} {
		if !strings.Contains(details, want) {
			t.Fatalf("details lack %q:\n%s", want, details)
		}
	}
	if loc := mustLocation(t, ctx); !strings.HasSuffix(loc, "/a/"+built.Attestations[0].Receipt.ID) {
		t.Fatalf("the URL does not name the open attestation: %s", loc)
	}
	screenshot(t, ctx, "details")

	// Verify app.deb: allowed under layout release; then a digest that nothing produced: denied, with reasons.
	kind := read(t, ctx, "read the verify kind", chromedp.Value(chromedp.ID("verify-kind")))
	name := read(t, ctx, "read the verify name", chromedp.Value(chromedp.ID("verify-name")))
	if kind != "file" || name != "app.deb" {
		t.Fatalf("verify form prefilled with kind %q name %q, want file app.deb", kind, name)
	}
	page(t, ctx, "verify app.deb", chromedp.Click(chromedp.ID("verify-run")), chromedp.WaitVisible(chromedp.ID("verdict-word")))
	if w, l := text(t, ctx, "#verdict-word"), text(t, ctx, "#verdict-layout"); w != "allowed" || l != "release version 1" {
		t.Fatalf("verdict %q, layout %q; want allowed, release version 1\n%s", w, l, text(t, ctx, "#verdict"))
	}
	if s := text(t, ctx, "#verdict-steps"); !strings.Contains(s, htmlStep) || !strings.Contains(s, "package") {
		t.Fatalf("verdict steps: %s", s)
	}
	screenshot(t, ctx, "allowed")
	bad := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("tampered\n")))
	page(t, ctx, "verify a wrong digest", chromedp.SetValue(chromedp.ID("verify-digest"), bad), chromedp.Click(chromedp.ID("verify-run")))
	waitText(t, ctx, "#verdict-word", "denied")
	reasons := eval[[]string](t, ctx, `[...document.querySelectorAll("#verdict-reasons li")].map(n => n.textContent)`)
	if len(reasons) == 0 || !strings.Contains(strings.Join(reasons, "\n"), bad) {
		t.Fatalf("denied without a reason naming %s: %q\n%s", bad, reasons, text(t, ctx, "#verdict"))
	}
	screenshot(t, ctx, "denied")

	// The step named <b>x</b> is text in the graph, the list and the verdict, and no <b> element exists.
	markup := eval[struct {
		B       int `json:"b"`
		Img     int `json:"img"`
		AsText  int `json:"asText"`
		Storage struct {
			Session int `json:"session"`
			Local   int `json:"local"`
		} `json:"storage"`
	}](t, ctx, fmt.Sprintf(`({b: document.getElementsByTagName("b").length, img: document.getElementsByTagName("img").length,
		asText: [...document.querySelectorAll("text, button, td, span")].filter(n => n.textContent.includes(%q)).length,
		storage: {session: sessionStorage.length, local: localStorage.length}})`, htmlStep))
	if markup.B != 0 || markup.Img != 0 || markup.AsText < 3 {
		t.Fatalf("the step %q: %d <b> and %d <img> elements, shown as text in %d elements", htmlStep, markup.B, markup.Img, markup.AsText)
	}
	// The token is in this tab's sessionStorage and nowhere else the page keeps things.
	if markup.Storage.Session == 0 || markup.Storage.Local != 0 || strings.Contains(mustLocation(t, ctx), token) {
		t.Fatalf("the token: sessionStorage has %d items, localStorage %d, URL %s", markup.Storage.Session, markup.Storage.Local, mustLocation(t, ctx))
	}

	// Blast radius: from the graph's list, search src.tar; app.tar and app.deb were built from it.
	page(t, ctx, "search src.tar from the list", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#graph-list button[data-digest=%q]`, chain.src))))
	waitText(t, ctx, "#graph-digest", chain.src)
	waitText(t, ctx, "#dependents", "app.deb")
	if s := text(t, ctx, "#dependents"); !strings.Contains(s, "app.tar "+chain.tar+" by step build") || !strings.Contains(s, "app.deb "+chain.deb+" by step package") {
		t.Fatalf("dependents of src.tar:\n%s", s)
	}
	screenshot(t, ctx, "dependents")

	if p := problems(); len(p) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(p, "\n"))
	}
}

func mustLocation(t *testing.T, ctx context.Context) string {
	t.Helper()
	return read(t, ctx, "read the location", chromedp.Location())
}
