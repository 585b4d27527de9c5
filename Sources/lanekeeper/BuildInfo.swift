/// What `lanekeeper --version` prints. This committed file describes a development build;
/// scripts/package writes a release build's version (from `git describe`, see docs/deploy.md)
/// and commit here for the length of its build and then puts this file back.
enum BuildInfo {
    /// The package version, e.g. `0.0.0+412.gd2d6ea5`.
    static let version = "development build"
    /// The full commit hash the binary was built from; empty in a development build.
    static let commit = ""

    /// The `--version` line: `0.0.0+412.gd2d6ea5 (commit d2d6ea5…)`, or `development build`.
    static var description: String {
        commit.isEmpty ? version : "\(version) (commit \(commit))"
    }
}
