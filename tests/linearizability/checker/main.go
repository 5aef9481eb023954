// SPDX-License-Identifier: MIT

// lincheck checks a history recorded by lin-client against a per-volume register model with
// Porcupine. Exit status: 0 linearizable, 1 a violation, 2 an error (unreadable history, or a
// partition the checker could not decide within -timeout).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

type verdict struct {
	volume string
	ops    []porcupine.Operation // the calls the verdict is about
	result porcupine.CheckResult
	gets   bool // false: Track/Untrack alone are already illegal
}

// checkVolume checks Track/Untrack alone first: when they are not linearizable, adding the
// Gets cannot make them so (a Get changes no state), and that check is cheap, while proving a
// history with Gets (each stretched over the lag bound, hence concurrent with many calls)
// illegal can take very long. Then the whole history, briefly: a legal one passes at once.
// Undecided, each Get is tried alone with all the Track/Untrack calls, which is exact for a
// Get too stale or naming a holder no state allows; last, the whole history with the rest of
// the budget.
func checkVolume(model porcupine.Model, v *verdict, budget func() time.Duration) {
	var mutations, gets []porcupine.Operation
	for _, op := range v.ops {
		if op.Input.(input).Op == opGet {
			gets = append(gets, op)
		} else {
			mutations = append(mutations, op)
		}
	}
	v.result = check(model, mutations, budget())
	if v.result != porcupine.Ok || len(gets) == 0 {
		v.ops = mutations
		return
	}
	v.gets = true
	if v.result = check(model, v.ops, min(budget(), quickCheck)); v.result != porcupine.Unknown {
		return
	}
	for _, get := range gets {
		one := append(append([]porcupine.Operation(nil), mutations...), get)
		if check(model, one, budget()) == porcupine.Illegal {
			v.ops, v.result = one, porcupine.Illegal
			return
		}
	}
	v.result = check(model, v.ops, budget())
}

// How long the whole of a volume's history is tried before the Gets are tried one by one.
const quickCheck = 2 * time.Second

// check is Porcupine's check with a time budget; an exhausted budget decides nothing.
func check(model porcupine.Model, ops []porcupine.Operation, budget time.Duration) porcupine.CheckResult {
	if budget <= 0 {
		return porcupine.Unknown
	}
	return porcupine.CheckOperationsTimeout(model, ops, budget)
}

// checkPartitions checks every volume, giving each at most `timeout` and all of them together
// at most `total`, so that a hard history ends as "unknown" (exit 2) instead of never.
func checkPartitions(h *history, timeout, total time.Duration) []verdict {
	parts := h.partitions()
	verdicts := make([]verdict, 0, len(parts))
	for v, idx := range parts {
		ops := make([]porcupine.Operation, len(idx))
		for k, i := range idx {
			ops[k] = h.ops[i]
		}
		verdicts = append(verdicts, verdict{volume: v, ops: ops})
	}
	sort.Slice(verdicts, func(a, b int) bool { return verdicts[a].volume < verdicts[b].volume })

	model := registerModel()
	deadline := time.Now().Add(total)
	budget := func() time.Duration { return min(timeout, time.Until(deadline)) }
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				checkVolume(model, &verdicts[i], budget)
			}
		}()
	}
	for i := range verdicts {
		work <- i
	}
	close(work)
	wg.Wait()
	return verdicts
}

// describe prints a call with its recorded interval, in ms from the history's start.
func describe(h *history, op porcupine.Operation) string {
	m := op.Metadata.(meta)
	return fmt.Sprintf("[%9.3f, %9.3f] ms  %-40s %s", float64(m.Call-h.start)/1e6,
		float64(op.Return-h.start)/1e6, describeOperation(op.Input, op.Output), m.Who)
}

// explain prints the longest linearizable prefix Porcupine found for an illegal partition
// (its last few steps) and the calls that could not follow it.
func explain(h *history, model porcupine.Model, v verdict, timeout time.Duration) {
	_, info := porcupine.CheckOperationsVerbose(model, v.ops, timeout)
	var longest []porcupine.Operation
	for _, partial := range info.PartialLinearizationsOperations() {
		for _, lin := range partial {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
	}
	fmt.Printf("  longest linearizable prefix: %d of %d calls; its end:\n", len(longest), len(v.ops))
	for i := max(0, len(longest)-4); i < len(longest); i++ {
		fmt.Printf("    %s\n", describe(h, longest[i]))
	}
	placed := map[porcupine.Operation]bool{}
	for _, op := range longest {
		placed[op] = true
	}
	ops := append([]porcupine.Operation(nil), v.ops...)
	sort.Slice(ops, func(a, b int) bool { return ops[a].Call < ops[b].Call })
	fmt.Printf("  first calls that cannot follow it:\n")
	for shown, i := 0, 0; i < len(ops) && shown < 4; i++ {
		if !placed[ops[i]] {
			fmt.Printf("    %s\n", describe(h, ops[i]))
			shown++
		}
	}
}

// visualize writes the first `limit` illegal partitions as one HTML page.
func visualize(model porcupine.Model, verdicts []verdict, limit int, timeout time.Duration, path string) error {
	var ops []porcupine.Operation
	for _, v := range verdicts {
		if v.result != porcupine.Ok && limit > 0 {
			ops = append(ops, v.ops...)
			limit--
		}
	}
	if ops == nil {
		return nil
	}
	m := withVolumePartition(model)
	_, info := porcupine.CheckOperationsVerbose(m, ops, timeout)
	return porcupine.VisualizePath(m, info, path)
}

type options struct {
	lag       time.Duration
	gets      bool
	visualize string
	explain   int
	timeout   time.Duration
	total     time.Duration
	verbose   bool
}

func main() {
	var o options
	flag.DurationVar(&o.lag, "lag", time.Second,
		"bounded staleness of Get: its invocation is moved back this much (DESIGN §8: 1 s)")
	flag.BoolVar(&o.gets, "gets", true, "check Gets too (false: Track/Untrack only)")
	flag.StringVar(&o.visualize, "visualize", "",
		"write Porcupine's HTML visualization of the first -explain illegal volumes here")
	flag.IntVar(&o.explain, "explain", 3, "explain (and visualize) this many illegal volumes")
	flag.DurationVar(&o.timeout, "timeout", time.Minute,
		"give up on one volume after this; undecided volumes: exit 2")
	flag.DurationVar(&o.total, "total", 5*time.Minute, "give up on all volumes after this")
	flag.BoolVar(&o.verbose, "v", false, "print every volume's verdict")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: lincheck [flags] HISTORY.jsonl\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(flag.Arg(0), o))
}

func run(path string, o options) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lincheck: %v\n", err)
		return 2
	}
	records, err := readRecords(f)
	f.Close()
	if err == nil {
		var h *history
		if h, err = buildHistory(records, int64(o.lag), o.gets); err == nil {
			return report(h, o)
		}
	}
	fmt.Fprintf(os.Stderr, "lincheck: %s: %v\n", path, err)
	return 2
}

func report(h *history, o options) int {
	began := time.Now()
	verdicts := checkPartitions(h, o.timeout, o.total)
	elapsed := time.Since(began)
	model := registerModel()
	tally := map[porcupine.CheckResult]int{}
	for _, v := range verdicts {
		tally[v.result]++
		if o.verbose || v.result != porcupine.Ok {
			what := "calls"
			if !v.gets {
				what = "Track/Untrack calls"
			}
			fmt.Printf("%s: %s (%d %s)\n", v.volume, v.result, len(v.ops), what)
		}
		if v.result == porcupine.Illegal && tally[porcupine.Illegal] <= o.explain {
			explain(h, model, v, o.timeout)
		}
	}
	fmt.Printf("answers:")
	for _, k := range sortedKeys(h.counts) {
		fmt.Printf(" %s %d", k, h.counts[k])
	}
	gets := fmt.Sprintf("Get lag bound %v", o.lag)
	if !o.gets {
		gets = "Gets not checked"
	}
	fmt.Printf("\n%d calls (%d left out: no effect, or a Get not checked), %d volumes: "+
		"%d ok, %d illegal, %d unknown; %s; checked in %.2f s\n",
		len(h.ops)+h.dropped, h.dropped, len(verdicts), tally[porcupine.Ok],
		tally[porcupine.Illegal], tally[porcupine.Unknown], gets, elapsed.Seconds())
	if o.visualize != "" && tally[porcupine.Ok] < len(verdicts) {
		if err := visualize(model, verdicts, o.explain, o.timeout, o.visualize); err != nil {
			fmt.Fprintf(os.Stderr, "lincheck: %v\n", err)
			return 2
		}
		fmt.Printf("visualization: %s\n", o.visualize)
	}
	switch {
	case tally[porcupine.Illegal] > 0:
		return 1
	case tally[porcupine.Unknown] > 0:
		return 2
	}
	return 0
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
