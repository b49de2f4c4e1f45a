//! Output formatting shared by the commands: Docker's human units, aligned
//! tables and Go-template `--format` strings.
