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
	ops    []porcupine.Operation
	result porcupine.CheckResult
}

func checkPartitions(h *history, timeout time.Duration) []verdict {
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
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				verdicts[i].result = porcupine.CheckOperationsTimeout(model, verdicts[i].ops, timeout)
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

func describe(h *history, op porcupine.Operation) string {
	return fmt.Sprintf("[%9.3f, %9.3f] ms  %-34s %s", float64(op.Call-h.start)/1e6,
		float64(op.Return-h.start)/1e6, describeOperation(op.Input, op.Output), op.Metadata)
}

// explain prints the longest linearizable prefix Porcupine found for an illegal partition
// (its last few steps) and the calls that could not follow it.
func explain(h *history, model porcupine.Model, v verdict) {
	_, info := porcupine.CheckOperationsVerbose(model, v.ops, 0)
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

func visualize(h *history, model porcupine.Model, verdicts []verdict, path string) error {
	var ops []porcupine.Operation
	volumeOf := map[interface{}]string{}
	for _, v := range verdicts {
		if v.result != porcupine.Ok {
			for _, op := range v.ops {
				op.Metadata = fmt.Sprintf("%s %s", v.volume, op.Metadata)
				volumeOf[op.Metadata] = v.volume
				ops = append(ops, op)
			}
		}
	}
	if ops == nil {
		return nil
	}
	m := withVolumePartition(model, func(op porcupine.Operation) string { return volumeOf[op.Metadata] })
	_, info := porcupine.CheckOperationsVerbose(m, ops, 0)
	return porcupine.VisualizePath(m, info, path)
}

func main() {
	lag := flag.Duration("lag", time.Second,
		"bounded staleness of Get: its invocation is moved back this much (DESIGN §8: 1 s)")
	vis := flag.String("visualize", "", "write Porcupine's HTML visualization of the illegal partitions here")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on one partition after this (0: never)")
	verbose := flag.Bool("v", false, "print every partition's verdict")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: lincheck [flags] HISTORY.jsonl\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(flag.Arg(0), *lag, *vis, *timeout, *verbose))
}

func run(path string, lag time.Duration, vis string, timeout time.Duration, verbose bool) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lincheck: %v\n", err)
		return 2
	}
	records, err := readRecords(f)
	f.Close()
	if err == nil {
		var h *history
		if h, err = buildHistory(records, int64(lag)); err == nil {
			return report(h, lag, vis, timeout, verbose)
		}
	}
	fmt.Fprintf(os.Stderr, "lincheck: %s: %v\n", path, err)
	return 2
}

func report(h *history, lag time.Duration, vis string, timeout time.Duration, verbose bool) int {
	began := time.Now()
	verdicts := checkPartitions(h, timeout)
	elapsed := time.Since(began)
	model := registerModel()
	tally := map[porcupine.CheckResult]int{}
	for _, v := range verdicts {
		tally[v.result]++
		if verbose || v.result != porcupine.Ok {
			fmt.Printf("%s: %s (%d calls)\n", v.volume, v.result, len(v.ops))
		}
		if v.result == porcupine.Illegal {
			explain(h, model, v)
		}
	}
	fmt.Printf("answers:")
	for _, k := range sortedKeys(h.counts) {
		fmt.Printf(" %s %d", k, h.counts[k])
	}
	fmt.Printf("\n%d calls (%d left out: no effect, or a Get without an answer), %d volumes: "+
		"%d ok, %d illegal, %d unknown; Get lag bound %v; checked in %.2f s\n",
		len(h.ops)+h.dropped, h.dropped, len(verdicts), tally[porcupine.Ok],
		tally[porcupine.Illegal], tally[porcupine.Unknown], lag, elapsed.Seconds())
	if vis != "" && tally[porcupine.Ok] < len(verdicts) {
		if err := visualize(h, model, verdicts, vis); err != nil {
			fmt.Fprintf(os.Stderr, "lincheck: %v\n", err)
			return 2
		}
		fmt.Printf("visualization: %s\n", vis)
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
