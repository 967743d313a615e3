package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
)

// Exit statuses, the same for every command.
const (
	exitOK      = 0 // success, or -h/--help
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad usage or configuration: nothing was done
)

// command is one subcommand: run gets the arguments after its name and
// returns the exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands maps a subcommand name to its command; files register theirs from
// init with register.
var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := commands[name]; dup {
		panic("nautilus: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return dispatch("nautilus", args, stdout, stderr, usage, func(name string) (func([]string) int, bool) {
		c, ok := commands[name]
		if !ok {
			return nil, false
		}
		return func(args []string) int { return c.run(args, stdout, stderr) }, true
	})
}

// dispatch runs the subcommand args[0] of the command prog: no subcommand is
// bad usage; -h, --help or help alone print the usage to stdout; "help X" is
// "X -h"; an unknown subcommand is bad usage naming it.
func dispatch(prog string, args []string, stdout, stderr io.Writer, usage func(io.Writer),
	lookup func(name string) (func(args []string) int, bool)) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: missing command\n\n", prog)
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		args = append(slices.Clone(args[1:]), "-h")
	}
	sub, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", prog, args[0])
		usage(stderr)
		return exitUsage
	}
	return sub(args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: nautilus <command> [flags]")
	fmt.Fprintln(w)
	summaries := map[string]string{}
	for name, c := range commands {
		summaries[name] = c.summary
	}
	listCommands(w, summaries)
	fmt.Fprintln(w, `Run "nautilus <command> -h" for a command's flags.`)
	fmt.Fprintln(w, "Exit status: 0 success, 1 failure, 2 bad usage or configuration (nothing done).")
}

// listCommands prints a "commands:" section, one name and summary a line,
// sorted by name, and a blank line after it.
func listCommands(w io.Writer, summaries map[string]string) {
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(summaries))
	width := 0
	for name := range summaries {
		names = append(names, name)
		width = max(width, len(name))
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, name, summaries[name])
	}
	fmt.Fprintln(w)
}

// parseFlags parses args with fs as every command does: -h or --help print
// fs.Usage to stdout (exitOK); a bad flag, a bad flag value or a stray
// argument is a usageError. ok is true when the command should go on.
// fs.Usage must write to fs.Output().
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (status int, ok bool) {
	fs.SetOutput(io.Discard) // the error is printed below, with the command's name
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		return usageError(fs, stderr, "%v", err), false
	case fs.NArg() > 0:
		return usageError(fs, stderr, "unexpected argument %q", fs.Arg(0)), false
	}
	fs.SetOutput(stderr)
	return exitOK, true
}

// usageError prints "nautilus NAME: what is wrong" and fs's usage to stderr
// and returns exitUsage.
func usageError(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "nautilus %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.SetOutput(stderr)
	fs.Usage()
	return exitUsage
}
