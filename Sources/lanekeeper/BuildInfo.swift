/// What `lanekeeper --version` prints. A development build (`swift build`, `swift run`) says
/// `development build`. scripts/package builds with `-D LANEKEEPER_PACKAGED` and writes the
/// release's version (from `git describe`, see docs/deploy.md) and commit into
/// `BuildStamp.generated.swift` beside this file (ignored by git, and compiled only under that
/// flag), so that no tracked file changes while it builds.
enum BuildInfo {
    #if LANEKEEPER_PACKAGED
    /// The package version, e.g. `0.0.0+412.gd2d6ea5`.
    static let version = BuildStamp.version
    /// The full commit hash the binary was built from.
    static let commit = BuildStamp.commit
    #else
    static let version = "development build"
    static let commit = ""
    #endif

    /// The `--version` line: `0.0.0+412.gd2d6ea5 (commit d2d6ea5…)`, or `development build`.
    static var description: String {
        commit.isEmpty ? version : "\(version) (commit \(commit))"
    }
}
