package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/admin"
)

// offsetsTimeout bounds one `kafka2pg offsets` invocation.
const offsetsTimeout = 30 * time.Second

// cmdOffsets is `kafka2pg offsets [flags]` (list) and
// `kafka2pg offsets reset [flags]`.
func cmdOffsets(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reset" {
		return cmdOffsetsReset(args[1:], stdout, stderr)
	}
	const name = "kafka2pg offsets"
	var c commonFlags
	fs := newFlagSet("offsets", stderr, &c)
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
	defer cancel()
	rep, err := admin.ListOffsets(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRuntime
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTORED\tCOMMITTED\tHIGH_WATERMARK\tLAG")
	var total int64
	for _, p := range rep.Partitions {
		lag := p.Lag(cfg.Kafka.Start)
		total += lag
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\n", p.Topic, p.Partition,
			optOffset(p.Stored, p.HasStored), optOffset(p.Committed, p.HasCommitted), p.End, lag)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRuntime
	}
	fmt.Fprintf(stdout, "total lag: %d\n", total)
	if rep.OffsetTableMissing {
		fmt.Fprintf(stderr, "%s: offset table %s does not exist yet: no offset is stored in PostgreSQL\n", name, rep.OffsetTable)
	}
	return exitOK
}

func cmdOffsetsReset(args []string, stdout, stderr io.Writer) int {
	const name = "kafka2pg offsets reset"
	var c commonFlags
	fs := newFlagSet("offsets reset", stderr, &c)
	to := fs.String("to", "", "new position: earliest, latest, an offset, or an RFC 3339 time (first record at or after it)")
	topic := fs.String("topic", "", "reset only this topic (one of the configuration's topics)")
	partition := fs.Int("partition", -1, "reset only this partition of --topic")
	dryRun := fs.Bool("dry-run", false, "print what would change and change nothing")
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	opts := admin.ResetOptions{Topic: *topic, DryRun: *dryRun}
	if *to == "" {
		fmt.Fprintf(stderr, "%s: --to is required: earliest, latest, an offset or an RFC 3339 time\n", name)
		return exitUsage
	}
	var err error
	if opts.To, err = admin.ParseResetTarget(*to); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	partitionSet := false
	fs.Visit(func(f *flag.Flag) { partitionSet = partitionSet || f.Name == "partition" })
	if partitionSet {
		if *partition < 0 || *partition > 1<<31-1 {
			fmt.Fprintf(stderr, "%s: --partition %d: must be a non-negative partition number\n", name, *partition)
			return exitUsage
		}
		p := int32(*partition)
		opts.Partition = &p
	}

	ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
	defer cancel()
	res, err := admin.ResetOffsets(ctx, cfg, opts)
	if res.Warning != "" {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name, res.Warning)
	}
	for _, mv := range res.Moves {
		old, note := "-", ""
		if mv.HasOld {
			old = strconv.FormatInt(mv.Old, 10)
		}
		if mv.Note != "" {
			note = " (" + mv.Note + ")"
		}
		fmt.Fprintf(stdout, "topic %s partition %d: %s -> %d%s\n", mv.Topic, mv.Partition, old, mv.New, note)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if admin.IsUsage(err) {
			return exitUsage
		}
		return exitRuntime
	}
	if *dryRun {
		fmt.Fprintf(stdout, "dry run: would reset %d partition(s) of group %s; nothing changed\n", len(res.Moves), res.Group)
		return exitOK
	}
	fmt.Fprintf(stdout, "reset %d partition(s) of group %s\n", len(res.Moves), res.Group)
	return exitOK
}

// optOffset prints an offset, or "-" when there is none.
func optOffset(off int64, ok bool) string {
	if !ok || off < 0 {
		return "-"
	}
	return strconv.FormatInt(off, 10)
}
