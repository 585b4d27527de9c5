import ArgumentParser
import Audit
import CloudStack
import Dispatch
import Foundation
import Synchronization

/// The options `policy init` and `audit` share to ask a CloudStack management server about
/// this host; the API key and secret come from CLOUDSTACK_KEY and CLOUDSTACK_SECRET.
struct CloudStackOptions: ParsableArguments {
    @Option(name: .customLong("cloudstack-url"), help: ArgumentHelp(
        "The CloudStack management server's API (https://HOST:8443/client/api; a URL without a path gets /client/api). "
            + "The API key and secret come from CLOUDSTACK_KEY and CLOUDSTACK_SECRET.", valueName: "URL"))
    var url: String?

    @Option(name: .customLong("cloudstack-host"), help: ArgumentHelp(
        "This host's name or id in CloudStack (default: the Routing host whose ipaddress is an address of this machine).",
        valueName: "NAME|ID"))
    var host: String?

    @Option(name: .customLong("cloudstack-ca"), help: ArgumentHelp(
        "Verify the management server's TLS certificate against the CA certificates of this PEM file instead of the "
            + "system's.", valueName: "FILE"))
    var caFile: String?

    @Option(name: .customLong("cloudstack-timeout"), help: ArgumentHelp(
        "Seconds to wait for the management server to connect and to answer each call.", valueName: "SECONDS"))
    var timeout: Int = 30

    func validate() throws {
        if url == nil, host != nil || caFile != nil {
            throw ValidationError("--cloudstack-host and --cloudstack-ca need --cloudstack-url")
        }
        guard (1...3600).contains(timeout) else { throw ValidationError("--cloudstack-timeout must be 1 to 3600 seconds") }
    }

    /// What the management server says about this host (nil without --cloudstack-url); exits
    /// 69 (unreachable, TLS), 77 (key refused), 65 (an answer not as documented), 64 (no key in
    /// the environment, no such host), 66 (no CA file), each message naming the call.
    func input(localAddresses: [String]) throws -> ManagementServerInput? {
        guard let url else { return nil }
        if let caFile, !FileManager.default.fileExists(atPath: caFile) {
            printError("\(caFile): no such file (--cloudstack-ca)")
            throw ExitCode(ExitStatus.noInput)
        }
        let selector = host
        let seconds = timeout
        let ca = caFile
        let result: Result<ManagementServerView, CloudStackError> = waitFor {
            do throws(CloudStackError) {
                let credentials = try CloudStackCredentials.fromEnvironment()
                let client = try CloudStackClient(url: url, credentials: credentials, caFile: ca, timeout: .seconds(seconds))
                do throws(CloudStackError) {
                    let view = try await client.view(host: selector, localAddresses: localAddresses)
                    await client.shutdown()
                    return .success(view)
                } catch {
                    await client.shutdown()
                    return .failure(error)
                }
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case let .success(view): return ManagementServerInput(view: view, resolver: .system)
        case let .failure(error):
            printError(error.description)
            throw ExitCode(error.exitStatus)
        }
    }
}

/// Runs `work` on the concurrency pool and waits for it: the bridge from the synchronous
/// commands to the asynchronous HTTP client (called from the main thread, never from a task).
func waitFor<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let box = Mutex<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let value = await work()
        box.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return box.withLock { $0! }
}
