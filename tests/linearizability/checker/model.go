// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"hash/fnv"

	"github.com/anishathalye/porcupine"
)

// The register model of one volume: its state is the node holding it, "" when it is free.
//
//	Track(n):  free → n, ok;  n → n, ok;  m ≠ n → m, AlreadyAttached(m)
//	Untrack:   any → free, ok
//	Get:       n → n, answers n;  free → free, answers NotAttached
//
// An indeterminate call (StoreFailed, a timeout, a lost reply) may or may not have taken
// effect: its step accepts both outcomes (the model is nondeterministic, Porcupine keeps the
// set of possible states), and history.go stretches its interval to the end of the history,
// as Jepsen and Porcupine do for calls whose outcome is unknown.

const (
	opTrack   = "track"
	opUntrack = "untrack"
	opGet     = "get"
)

const (
	outOk      = "ok"      // Track/Untrack succeeded; Get answered Node
	outAlready = "already" // AlreadyAttached, Node = the holder the answer named
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

func step(state interface{}, in interface{}, out interface{}) []interface{} {
	s := state.(string)
	i := in.(input)
	o := out.(output)
	switch i.Op {
	case opTrack:
		free := s == "" || s == i.Node
		switch {
		case o.Kind == outOk && free:
			return []interface{}{i.Node}
		case o.Kind == outAlready && !free && s == o.Node:
			return []interface{}{s}
		case o.Kind == outUnknown && free && s != i.Node:
			return []interface{}{s, i.Node}
		case o.Kind == outUnknown:
			return []interface{}{s}
		}
	case opUntrack:
		switch {
		case o.Kind == outOk:
			return []interface{}{""}
		case o.Kind == outUnknown && s != "":
			return []interface{}{s, ""}
		case o.Kind == outUnknown:
			return []interface{}{s}
		}
	case opGet:
		if (o.Kind == outOk && s == o.Node && s != "") || (o.Kind == outFree && s == "") ||
			o.Kind == outUnknown {
			return []interface{}{s}
		}
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
	if s := state.(string); s != "" {
		return s
	}
	return "free"
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
