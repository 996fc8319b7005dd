// Reading an input file (-f, --input, documents) with errors that name the path and the
// reason, instead of iostreams' "basic_filebuf::underflow error reading the file".
#pragma once

#include <string>

namespace tern::cli {

/// The whole of `path`: a regular file, or a stream such as a pipe or /dev/stdin. Throws
/// tern::Error "PATH: REASON" for a folder, an unreadable file, or more than 1 GiB (so
/// /dev/zero cannot exhaust memory).
std::string read_input_file(const std::string& path);

}  // namespace tern::cli
