// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The model of one volume (DESIGN §5, §9): its state is who holds it, encoded as a string:
// "" free, "x:n" exclusively n, "s:n" shared by n, "s:n,m" shared by n (first) and m.
//
//	Track(n):        free → x:n;  n holds it → same, ok;  else AlreadyAttached(holders)
//	TrackShared(n):  free → s:n;  n holds it → same;  s:m → s:m,n;  else AlreadyAttached(holders)
//	UntrackNode(n):  n does not hold it → same, ok;  x:n, s:n → free;  s:n,m → s:m;  s:m,n → s:m
//	Untrack:         any → free, ok
//	Get:             answers the first node, or NotAttached when free
//
// AlreadyAttached names the holders as lin-client records them: "n" or "n,m". An
// indeterminate call (StoreFailed, a timeout, a lost reply) may or may not have taken effect:
// its step accepts both outcomes (the model is nondeterministic, Porcupine keeps the set of
// possible states), and history.go stretches its interval to the end of the history, as
// Jepsen and Porcupine do for calls whose outcome is unknown.

const (
	opTrack       = "track"
	opTrackShared = "trackshared"
	opUntrackNode = "untracknode"
	opUntrack     = "untrack"
	opGet         = "get"
)

const (
	outOk      = "ok"      // the call succeeded; Get answered Node
	outAlready = "already" // AlreadyAttached, Node = the holders the answer named
	outFree    = "free"    // Get answered NotAttached
	outUnknown = "unknown" // indeterminate
	outBad     = "bad"     // an answer no state allows (VolumeNotFound, a malformed one)
)

type input struct {
	Op   string
	Node string
}

type output struct {
	Kind   string
	Node   string
	Detail string // the raw answer, for the report
}

// holding is the decoded state.
type holding struct {
	shared bool
	nodes  []string // oldest first; empty: free
}

func decode(s string) holding {
	if s == "" {
		return holding{}
	}
	return holding{shared: s[0] == 's', nodes: strings.Split(s[2:], ",")}
}

func (h holding) encode() string {
	if len(h.nodes) == 0 {
		return ""
	}
	mode := "x:"
	if h.shared {
		mode = "s:"
	}
	return mode + strings.Join(h.nodes, ",")
}

func (h holding) has(n string) bool {
	for _, m := range h.nodes {
		if m == n {
			return true
		}
	}
	return false
}

// apply is a successful call's effect; ok is false when the call must be refused
// (AlreadyAttached, naming h's holders).
func apply(h holding, op, n string) (next holding, ok bool) {
	switch op {
	case opTrack, opTrackShared:
		shared := op == opTrackShared
		switch {
		case h.has(n):
			return h, true
		case len(h.nodes) == 0:
			return holding{shared: shared, nodes: []string{n}}, true
		case shared && h.shared && len(h.nodes) == 1:
			return holding{shared: true, nodes: []string{h.nodes[0], n}}, true
		}
		return h, false
	case opUntrackNode:
		if !h.has(n) {
			return h, true
		}
		rest := []string{}
		for _, m := range h.nodes {
			if m != n {
				rest = append(rest, m)
			}
		}
		if len(rest) == 0 {
			return holding{}, true
		}
		return holding{shared: h.shared, nodes: rest}, true
	}
	return holding{}, true // opUntrack
}

func step(state interface{}, in interface{}, out interface{}) []interface{} {
	s := state.(string)
	i := in.(input)
	o := out.(output)
	h := decode(s)
	if i.Op == opGet {
		first := ""
		if len(h.nodes) > 0 {
			first = h.nodes[0]
		}
		if (o.Kind == outOk && first == o.Node && first != "") ||
			(o.Kind == outFree && first == "") || o.Kind == outUnknown {
			return []interface{}{s}
		}
		return nil
	}
	next, ok := apply(h, i.Op, i.Node)
	switch {
	case o.Kind == outOk && ok:
		return []interface{}{next.encode()}
	case o.Kind == outAlready && !ok && strings.Join(h.nodes, ",") == o.Node:
		return []interface{}{s}
	case o.Kind == outUnknown && ok && next.encode() != s:
		return []interface{}{s, next.encode()}
	case o.Kind == outUnknown:
		return []interface{}{s}
	}
	return nil
}

func describeOperation(in interface{}, out interface{}) string {
	i := in.(input)
	o := out.(output)
	call := "Untrack()"
	switch i.Op {
	case opTrack:
		call = fmt.Sprintf("Track(%s)", i.Node)
	case opTrackShared:
		call = fmt.Sprintf("TrackShared(%s)", i.Node)
	case opUntrackNode:
		call = fmt.Sprintf("UntrackNode(%s)", i.Node)
	case opGet:
		call = "Get()"
	}
	switch o.Kind {
	case outOk:
		if i.Op == opGet {
			return call + " → " + o.Node
		}
		return call + " → ok"
	case outAlready:
		return call + " → AlreadyAttached(" + o.Node + ")"
	case outFree:
		return call + " → NotAttached"
	}
	return call + " → " + o.Detail
}

func describeState(state interface{}) string {
	h := decode(state.(string))
	switch {
	case len(h.nodes) == 0:
		return "free"
	case h.shared:
		return strings.Join(h.nodes, "+") + " (shared)"
	}
	return h.nodes[0]
}

func registerModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init:  func() []interface{} { return []interface{}{""} },
		Step:  step,
		Equal: func(a, b interface{}) bool { return a.(string) == b.(string) },
		Hash: func(state interface{}) uint64 {
			h := fnv.New64a()
			h.Write([]byte(state.(string)))
			return h.Sum64()
		},
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
		DescribeOperationMetadata: func(info interface{}) string {
			if m, ok := info.(meta); ok {
				return m.Who
			}
			return ""
		},
	}
	return nm.ToModel()
}

// withVolumePartition is the model with Porcupine's Partition by volume (from each operation's
// meta), for visualizing several volumes' histories in one page.
func withVolumePartition(m porcupine.Model) porcupine.Model {
	m.Partition = func(history []porcupine.Operation) [][]porcupine.Operation {
		byVolume := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			v := op.Metadata.(meta).Volume
			if _, seen := byVolume[v]; !seen {
				order = append(order, v)
			}
			byVolume[v] = append(byVolume[v], op)
		}
		parts := make([][]porcupine.Operation, 0, len(order))
		for _, v := range order {
			parts = append(parts, byVolume[v])
		}
		return parts
	}
	return m
}
