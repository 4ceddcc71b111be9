namespace MiniVM.Display.Sdl.Tests;

public sealed class ScreenFitTests
{
    [Fact]
    public void TextModeFillsA4To3Window() =>
        Assert.Equal(new ScreenFit(0, 0, 720, 540), ScreenFit.Into(720, 400, 720, 540));

    [Fact]
    public void Mode13hIsShownAt4To3NotAt16To10() =>
        Assert.Equal(new ScreenFit(0, 0, 800, 600), ScreenFit.Into(320, 200, 800, 600));

    [Fact]
    public void AWideWindowGetsBarsLeftAndRight() =>
        Assert.Equal(new ScreenFit(166, 0, 667, 500), ScreenFit.Into(720, 400, 1000, 500));

    [Fact]
    public void ATallWindowGetsBarsAboveAndBelow() =>
        Assert.Equal(new ScreenFit(0, 150, 640, 480), ScreenFit.Into(640, 480, 640, 780));

    [Fact]
    public void VbeModesKeepSquarePixels()
    {
        Assert.Equal(new ScreenFit(40, 0, 960, 768), ScreenFit.Into(1280, 1024, 1040, 768));   // 5:4
        Assert.Equal(new ScreenFit(0, 30, 1280, 720), ScreenFit.Into(1280, 720, 1280, 780));   // 16:9
    }

    [Theory]
    [InlineData(0, 400, 720, 540)]
    [InlineData(720, 0, 720, 540)]
    [InlineData(720, 400, 0, 540)]
    [InlineData(720, 400, 720, 0)]
    public void NothingIsDrawnIntoAnEmptyArea(int fw, int fh, int ww, int wh) =>
        Assert.Equal(new ScreenFit(0, 0, 0, 0), ScreenFit.Into(fw, fh, ww, wh));

    [Fact]
    public void NaturalWindowDoublesSmallModesAndKeepsTheDisplayedAspect()
    {
        Assert.Equal((720, 540), ScreenFit.NaturalWindow(720, 400));
        Assert.Equal((640, 480), ScreenFit.NaturalWindow(320, 200));
        Assert.Equal((1024, 768), ScreenFit.NaturalWindow(1024, 768));
    }
}
