// The interpreter's hot methods have large frames (one switch over every mnemonic); zeroing them on every
// call costs more than the instructions themselves. Every local is assigned before use.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
