/// What `lanekeeper --version` prints. This committed file describes a development build;
/// scripts/package writes a release build's version (from `git describe`, see docs/deploy.md)
/// and commit here for the length of its build and then puts this file back.
enum BuildInfo {
    /// The package version, e.g. `0.0.0+412.gd2d6ea5`.
    static let version = "0.0.0+229.g8abef4a"
    /// The full commit hash the binary was built from; empty in a development build.
    static let commit = "8abef4aafb100de8503221b0915b5f09ccc2658a"

    /// The `--version` line: `0.0.0+412.gd2d6ea5 (commit d2d6ea5…)`, or `development build`.
    static var description: String {
        commit.isEmpty ? version : "\(version) (commit \(commit))"
    }
}
