namespace TcpRelay.TestSupport;

/// <summary>
/// A test that drives a program of the machine (Debian's chromium, nginx): skipped, saying what to
/// install, where none of <see cref="Programs"/> is on PATH, so that <c>dotnet test</c> works on a
/// fresh machine; run (and failed, if the program is missing) where <c>TEST_PROGRAMS_REQUIRED=1</c>,
/// as .ci/run sets after installing them.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ProgramFactAttribute : FactAttribute
{
    /// <param name="package">The Debian package that has the program.</param>
    /// <param name="programs">The program's names, any one of which will do.</param>
    public ProgramFactAttribute(string package, params string[] programs)
    {
        Programs = programs;
        if (Find(programs) is null && Environment.GetEnvironmentVariable("TEST_PROGRAMS_REQUIRED") != "1")
            Skip = $"{string.Join(" or ", programs)} is not installed: apt-get install {package} (.ci/run does)";
    }

    /// <summary>The program's names.</summary>
    public string[] Programs { get; }

    /// <summary>The first of <paramref name="programs"/> on PATH, or null.</summary>
    public static string? Find(params string[] programs) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .SelectMany(dir => programs.Select(name => Path.Combine(dir, name)))
        .FirstOrDefault(File.Exists);
}
